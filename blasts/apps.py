from django.apps import AppConfig


class BlastsConfig(AppConfig):
    name = "blasts"
