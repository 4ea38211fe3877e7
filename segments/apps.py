from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "segments"
    label = "segments"
    verbose_name = "Segments"
