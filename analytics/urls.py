from django.urls import re_path

from analytics import views

urlpatterns = [
    re_path(r"^analytics/messages/?$", views.MessagesAnalyticsView.as_view(), name="analytics-messages"),
    re_path(r"^analytics/usage/?$", views.UsageAnalyticsView.as_view(), name="analytics-usage"),
]
