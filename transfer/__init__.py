"""Neural style transfer: VGG16 backbone, feature extraction, Gatys losses, optimisers, fast networks.

Public entry points: :func:`transfer.backbone.load_backbone`, :func:`transfer.stylize.stylize_image`.
"""
