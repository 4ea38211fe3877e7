from django.urls import re_path

from blasts.channels.sendgrid import views

urlpatterns = [
    re_path(r"^hooks/sendgrid/events/?$", views.events_view, name="sendgrid-events"),
]
