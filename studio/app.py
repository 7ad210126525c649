"""The studio's page (Gradio): layout, wiring to a :class:`studio.service.Studio`, and ``serve(StudioConfig)``.

Two events are public API endpoints for ``gradio_client``: ``/preview`` (clip, painting, ... -> stylised frame,
message) and ``/stylize`` (clip, painting, ... -> MP4, side-by-side MP4, status, ...); every parameter after the
first two has a default (``/stylize``'s ``keyframes``: painted frames named by frame number, with
``method="keyframes"`` and no painting). Everything else (timer, sample pickers, job picker) is private to the page.
"""

from __future__ import annotations

import functools
import inspect
import logging
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from foundation.errors import UserError
from studio.config import StudioConfig
from studio.jobs import METHODS
from studio.runner import video_defaults
from studio.service import Choices, JobView, Studio

log = logging.getLogger("studio")
METHOD_INFO = ("optimize: Gatys + Ruder per frame (minutes a frame); fast: a network trained for one painting by "
               "make train-style; arbitrary: one network for any painting, seconds not minutes, no training; "
               "keyframes: frames you painted yourself are the style, carried along the motion")
KEYFRAMES_LABEL = "Painted keyframes — files named by frame number, e.g. 0001.png, 0090.png"
COLOR_MODES = ["none", "luminance", "histogram"]
MAX_FRAME_INDEX = 1_000_000
#: System fonts only: the page loads nothing from outside this machine.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
INTRO = """# Paint Your Video — studio
Pick a clip and a painting, **Preview** one frame in seconds, then **Paint the video**. One job runs at a time on
this machine; others wait in a queue. Closing this page does not stop a job: reopen it to see the job again."""


def _page_errors(fn):
    """Turn a UserError of ``fn`` (a function or a generator function) into a message on the page."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except UserError as exc:
                raise gr.Error(str(exc), duration=None) from None
        return gen

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            raise gr.Error(str(exc), duration=None) from None
    return call


def _none_if_blank(value):
    """Return None for an empty text box or a number <= 0 (meaning "all of the clip"), else the value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float) and value <= 0:
        return None
    return value.strip() if isinstance(value, str) else value


def _paintings(painting: str | None, more_paintings) -> list[str]:
    files = [painting] if painting else []
    return files + _file_list(more_paintings)


def _file_list(files) -> list[str]:
    """Return the paths of a multiple-file upload (None: none; a single path: one)."""
    if isinstance(files, str):
        files = [files]
    return [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in files or []]


def _choices(method, model, width, seconds, frames, temporal_weight, preserve_colors, style_schedule,
             first_iterations, iterations, strength=1.0, output_width=None, stroke_scale=1.0) -> Choices:
    frames, first, later = (_none_if_blank(v) for v in (frames, first_iterations, iterations))
    method = method or "optimize"
    # the model dropdown holds fast-mode networks; the arbitrary method on the page runs the default weights
    return Choices(method=method, model=model if method == "fast" and model else None, width=int(width),
                   strength=float(strength), seconds=_none_if_blank(seconds), frames=int(frames) if frames else None,
                   temporal_weight=None if temporal_weight is None else float(temporal_weight),
                   preserve_colors=preserve_colors or "none", style_schedule=_none_if_blank(style_schedule),
                   first_iterations=int(first) if first else None, iterations=int(later) if later else None,
                   output_width=int(output_width) if _none_if_blank(output_width) else None,
                   stroke_scale=float(stroke_scale))


@dataclass
class Endpoints:
    """The functions behind the page's events; their parameter names are the API's."""

    studio: Studio

    def preview(self, clip, painting, frame=0, preview_width=128, preview_iterations=20, method="optimize",
                model=None, more_paintings=None, preserve_colors="none", style_schedule="", strength=1.0,
                stroke_scale=1.0):
        """Stylise one frame of the clip at low resolution with few iterations; returns (image, message)."""
        started = time.perf_counter()
        choices = _choices(method, model, 256, None, None, 1.0, preserve_colors, style_schedule, 1, 1, strength,
                           stroke_scale=stroke_scale)
        path = self.studio.preview(clip, _paintings(painting, more_paintings), choices, int(frame),
                                   int(preview_width), int(preview_iterations))
        what = {"fast": "fast network", "arbitrary": "any-painting network"}.get(
            choices.method, f"{preview_iterations} iterations")
        return path, f"Frame {int(frame)} at {int(preview_width)} px, {what}: {time.perf_counter() - started:.1f} s."

    def stylize(self, clip, painting, more_paintings=None, method="optimize", model=None, width=256, seconds=0,
                frames=0, temporal_weight=None, preserve_colors="none", style_schedule="", first_iterations=None,
                iterations=None, strength=1.0, output_width=0, stroke_scale=1.0, keyframes=None):
        """Start a job and follow it; the last value is (MP4, side-by-side MP4, status, frame, evaluation, ...)."""
        choices = _choices(method, model, width, seconds, frames, temporal_weight, preserve_colors, style_schedule,
                           first_iterations, iterations, strength, output_width, stroke_scale)
        job_id = self.studio.submit(clip, _paintings(painting, more_paintings), choices, _file_list(keyframes))
        picker = gr.Dropdown(choices=self.studio.job_ids(), value=job_id)
        while True:
            view = self.studio.view(job_id)
            if view.finished:
                break
            yield None, None, view.markdown, view.latest_frame, "", None, picker, None
            time.sleep(self.studio.config.poll_seconds)
        if view.status == "failed":
            yield None, None, view.markdown, view.latest_frame, "", None, picker, job_id
            raise gr.Error(self.studio.manager.get(job_id)["error"], duration=None)
        yield (view.video, view.side_by_side, view.markdown, view.latest_frame, view.evaluation, view.losses,
               picker, job_id)

    def clip_changed(self, clip):
        """Describe a new clip (or say what is wrong with it) and fit the frame slider to it."""
        if not clip:
            return "", gr.Slider(maximum=MAX_FRAME_INDEX, value=0)
        try:
            text = self.studio.clip_info(clip)
        except UserError as exc:
            return f"⚠ {exc}", gr.Slider(maximum=MAX_FRAME_INDEX, value=0)
        frames = int(text.split(" ", 1)[0])
        return text, gr.Slider(maximum=max(1, frames - 1), value=0)

    def refresh(self, job_id, shown):
        """Timer tick: status and latest frame of the picked job; results only when they change."""
        view = self.studio.view(job_id or None)
        if view.finished and view.job_id != shown:
            return (*_results(view), view.job_id, self.studio.gallery())
        return (view.markdown, view.latest_frame, *[gr.skip()] * 4, shown, gr.skip())

    def pick(self, job_id):
        """Show job ``job_id`` in full (from the job picker)."""
        view = self.studio.view(job_id or None)
        return (*_results(view), view.job_id if view.finished else None)

    def opened(self):
        """Page load: the active (or newest) job, the job list and the gallery."""
        job_id = self.studio.active_job()
        return gr.Dropdown(choices=self.studio.job_ids(), value=job_id), self.studio.gallery()

    def from_gallery(self, evt: gr.SelectData):
        caption = evt.value.get("caption") if isinstance(evt.value, dict) else None
        return caption.split(" ", 1)[0] if caption else gr.skip()


def _results(view: JobView) -> tuple:
    return view.markdown, view.latest_frame, view.video, view.side_by_side, view.evaluation, view.losses


def _inputs(studio: Studio) -> SimpleNamespace:
    ui, defaults = SimpleNamespace(), video_defaults()
    with gr.Group():
        ui.clip = gr.Video(label="Clip", sources=["upload"], elem_id="clip", height=240)
        ui.clip_info = gr.Markdown(elem_id="clip-info")
        ui.sample_clip = gr.Dropdown([Path(p).name for p in studio.sample_clips()], value=None,
                                     label="…or a sample clip", allow_custom_value=False)
    with gr.Group():
        ui.painting = gr.Image(label="Painting", type="filepath", sources=["upload"], elem_id="painting",
                               height=200)
        ui.sample_painting = gr.Dropdown([Path(p).name for p in studio.sample_paintings()], value=None,
                                         label="…or a sample painting")
        ui.more_paintings = gr.File(label="More paintings (blended, or scheduled over time)", file_count="multiple",
                                    file_types=["image"], elem_id="more-paintings")
    with gr.Accordion("Options (defaults are `paintvid video`'s)", open=True):
        ui.method = gr.Radio(list(METHODS), value="optimize", label="Method", info=METHOD_INFO, elem_id="method")
        ui.model = gr.Dropdown(list(studio.models()), value=None, label="Fast-mode model (models/*.keras)",
                               visible=False, elem_id="fast-model")
        ui.strength = gr.Slider(0, 1, value=1, step=0.05, label="Strength (arbitrary)", visible=False,
                                info="0 keeps each frame's own look, 1 takes the painting's", elem_id="strength")
        ui.stroke_scale = gr.Slider(0.25, 4, value=1, step=0.25, label="Brush size (arbitrary)", visible=False,
                                    info="size of the painted marks: 2 = twice as large", elem_id="stroke-scale")
        ui.keyframes = gr.File(label=KEYFRAMES_LABEL, file_count="multiple", file_types=["image"], visible=False,
                               elem_id="keyframes")
        with gr.Row():
            ui.width = gr.Number(256, label="Working width (px)", precision=0, minimum=16,
                                 maximum=studio.config.limits.max_width, elem_id="width")
            ui.output_width = gr.Number(0, label="Film width (px, 0 = the clip's own)", precision=0, minimum=0,
                                        maximum=3840, elem_id="output-width")
            ui.seconds = gr.Number(0, label="Seconds (0 = whole clip)", minimum=0, elem_id="seconds")
            ui.frames = gr.Number(0, label="or frames (0 = all)", precision=0, minimum=0, elem_id="frames")
        with gr.Row():
            ui.temporal_weight = gr.Number(defaults["temporal_weight"], label="Temporal weight", minimum=0)
            ui.preserve_colors = gr.Dropdown(COLOR_MODES, value="none", label="Colour preservation")
        ui.style_schedule = gr.Textbox("", label="Style schedule for several paintings, e.g. 0:0,4s:1")
        with gr.Row():
            ui.first_iterations = gr.Number(defaults["first_iterations"], label="Iterations, first frame", precision=0,
                                            minimum=1,
                                            elem_id="first-iterations")
            ui.iterations = gr.Number(defaults["iterations"], label="Iterations, later frames", precision=0, minimum=1,
                                      elem_id="iterations")
    return ui


def _outputs() -> SimpleNamespace:
    ui = SimpleNamespace()
    with gr.Group():
        # wide open for API calls; a clip shown on the page narrows it to that clip's frames
        ui.frame = gr.Slider(0, MAX_FRAME_INDEX, value=0, step=1, label="Preview frame", elem_id="preview-frame")
        with gr.Row():
            ui.preview_width = gr.Number(128, label="Preview width (px)", precision=0, minimum=16, maximum=512,
                                         elem_id="preview-width")
            ui.preview_iterations = gr.Number(20, label="Preview iterations", precision=0, minimum=1, maximum=300,
                                              elem_id="preview-iterations")
        ui.preview_button = gr.Button("Preview one frame", elem_id="preview-button")
        ui.preview = gr.Image(label="Preview", type="filepath", interactive=False, elem_id="preview-image",
                              height=220)
        ui.preview_info = gr.Markdown(elem_id="preview-info")
    ui.paint_button = gr.Button("Paint the video", variant="primary", elem_id="paint-button")
    ui.status = gr.Markdown(elem_id="job-status")
    ui.latest = gr.Image(label="Latest stylised frame", type="filepath", interactive=False, height=200)
    ui.video = gr.Video(label="Stylised video (MP4, source audio)", interactive=False, elem_id="result-video")
    ui.side_by_side = gr.Video(label="Side by side", interactive=False, elem_id="side-by-side")
    ui.evaluation = gr.Markdown(elem_id="evaluation")
    ui.losses = gr.LinePlot(x="frame", y="style loss", title="Style loss per frame", height=220)
    with gr.Accordion("Earlier jobs", open=False):
        ui.job = gr.Dropdown([], value=None, label="Job", allow_custom_value=True, elem_id="job-picker")
        ui.gallery = gr.Gallery(label="Earlier jobs", columns=6, height=220, allow_preview=False)
    return ui


def build_app(studio: Studio) -> gr.Blocks:
    """Return the studio's page for ``studio`` (not launched)."""
    ends = Endpoints(studio)
    # Gradio's own copies of uploads (its cache) are swept hourly once a day old; the job folders keep theirs
    with gr.Blocks(title="Paint Your Video — studio", analytics_enabled=False, delete_cache=(3600, 86400)) as demo:
        gr.Markdown(INTRO)
        shown = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1):
                i = _inputs(studio)
            with gr.Column(scale=1):
                o = _outputs()
        _wire(demo, studio, ends, i, o, shown)
    return demo


def _wire(demo: gr.Blocks, studio: Studio, ends: Endpoints, i, o, shown) -> None:
    private = {"api_visibility": "private", "show_progress": "hidden"}
    o.preview_button.click(
        _page_errors(ends.preview),
        [i.clip, i.painting, o.frame, o.preview_width, o.preview_iterations, i.method, i.model, i.more_paintings,
         i.preserve_colors, i.style_schedule, i.strength, i.stroke_scale],
        [o.preview, o.preview_info], api_name="preview", concurrency_limit=1)
    results = [o.video, o.side_by_side, o.status, o.latest, o.evaluation, o.losses, o.job, shown]
    o.paint_button.click(
        _page_errors(ends.stylize),
        [i.clip, i.painting, i.more_paintings, i.method, i.model, i.width, i.seconds, i.frames, i.temporal_weight,
         i.preserve_colors, i.style_schedule, i.first_iterations, i.iterations, i.strength, i.output_width,
         i.stroke_scale, i.keyframes],
        results, api_name="stylize", concurrency_limit=None, show_progress="minimal")
    i.clip.change(ends.clip_changed, [i.clip], [i.clip_info, o.frame], **private)
    i.method.change(lambda m: (gr.Dropdown(visible=m == "fast"), gr.Slider(visible=m == "arbitrary"),
                               gr.Slider(visible=m == "arbitrary"), gr.File(visible=m == "keyframes")), [i.method],
                    [i.model, i.strength, i.stroke_scale, i.keyframes], **private)
    samples = {Path(p).name: p for p in studio.sample_clips() + studio.sample_paintings()}
    i.sample_clip.change(lambda name: samples.get(name, gr.skip()), [i.sample_clip], [i.clip], **private)
    i.sample_painting.change(lambda name: samples.get(name, gr.skip()), [i.sample_painting], [i.painting],
                             **private)
    view = [o.status, o.latest, o.video, o.side_by_side, o.evaluation, o.losses]
    timer = gr.Timer(2.0)
    timer.tick(ends.refresh, [o.job, shown], [*view, shown, o.gallery], concurrency_limit=None, **private)
    o.job.input(ends.pick, [o.job], [*view, shown], **private)
    o.gallery.select(ends.from_gallery, None, [o.job], **private).then(ends.pick, [o.job], [*view, shown],
                                                                         **private)
    demo.load(ends.opened, None, [o.job, o.gallery], **private)


def host_warning(config: StudioConfig) -> str | None:
    """Return the log warning for a server other machines can reach (None for 127.0.0.1 / localhost)."""
    if config.loopback_only:
        return None
    return (f"studio: listening on {config.host}: anyone who can reach this machine on port {config.port} can upload "
            "files and start jobs (there is no login); the default 127.0.0.1 keeps it to this machine")


def free_port(host: str) -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve(config: StudioConfig, block: bool = True, studio: Studio | None = None) -> tuple[gr.Blocks, str]:
    """Start the studio on ``config.host:config.port`` (port 0: any free one); return (app, local URL).

    ``block=False`` returns at once with the server running in the background (tests); stop it with
    ``app.close()``.
    """
    if (warning := host_warning(config)) is not None:
        log.warning(warning)
    studio = studio or Studio(config)
    port = config.port or free_port(config.host)
    demo = build_app(studio)
    demo.queue(default_concurrency_limit=1)
    _, url, _ = demo.launch(
        server_name=config.host, server_port=port, share=False, ssr_mode=False, prevent_thread_lock=True,
        allowed_paths=[str(Path(p).resolve()) for p in (config.jobs_dir, config.previews_dir, config.samples)],
        max_file_size=config.limits.max_bytes, theme=THEME, footer_links=["api"], mcp_server=False, pwa=False,
        enable_monitoring=False, quiet=True,
    )
    print(f"Paint Your Video studio: open {url} in a browser (jobs in {config.jobs_dir}/)", flush=True)
    if block:
        demo.block_thread()
    return demo, url
