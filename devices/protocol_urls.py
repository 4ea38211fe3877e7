"""The gateway protocol's paths (devices.protocol), exactly as the phones call them: trailing
slash included; the form without it reaches the same view (no redirect: a POST keeps its body)."""

from django.urls import re_path

from devices import protocol

urlpatterns = [
    re_path(r"^api/devices/register/?$", protocol.RegisterView.as_view(), name="device-register"),
    re_path(r"^api/devices/(?P<device_id>[^/]+)/tasks/?$", protocol.TasksView.as_view(), name="device-tasks"),
    re_path(
        r"^api/devices/(?P<device_id>[^/]+)/heartbeat/?$", protocol.HeartbeatView.as_view(), name="device-heartbeat"
    ),
    re_path(r"^api/sms/inbound/?$", protocol.InboundView.as_view(), name="sms-inbound"),
    re_path(r"^api/sms/send/?$", protocol.DashboardSendView.as_view(), name="sms-send"),
    re_path(r"^api/sms/(?P<task_id>[^/]+)/status/?$", protocol.StatusView.as_view(), name="sms-status"),
    re_path(r"^api/external/send/?$", protocol.ExternalSendView.as_view(), name="external-send"),
    re_path(r"^api/stats/?$", protocol.StatsView.as_view(), name="stats"),
]
