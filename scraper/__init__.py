"""Flickr scraper: search -> download -> validate -> deduplicate -> manifest and split.

Entry points: :func:`scraper.scrape.scrape` (``paintvid scrape``), :func:`scraper.importer.import_folder`
(``paintvid dataset import``) and :func:`scraper.manifest.load_manifest` for readers of ``DIR/manifest.csv``.
"""
