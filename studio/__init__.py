"""The local web studio (Gradio): preview, background jobs, results. Entry point: ``studio.app.build_app``."""
