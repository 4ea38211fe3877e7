"""The gateway's three credentials, which never overlap:

- a device token (`X-Device-Token: ...` or `Authorization: Bearer ...`) acts only as its device,
  on the device endpoints only;
- the dashboard session (the admin login cookie, CSRF-checked) sends and reads stats, never acts
  as a device;
- a send-only API key, given as `api_key` in the body of `/api/external/send/`, only sends.
"""

from rest_framework import authentication, exceptions, permissions

from apikeys.models import APIKey
from apikeys.selectors import key_owner_for_token
from devices.models import Device
from devices.services import device_for_token


class DeviceTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        token = request.META.get("HTTP_X_DEVICE_TOKEN", "").strip()
        if not token:
            scheme, _, rest = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
            token = rest.strip() if scheme.lower() == "bearer" else ""
        if not token:
            return None  # -> 401
        device = device_for_token(token)
        if device is None:
            raise exceptions.AuthenticationFailed("Invalid device token.")
        return None, device

    def authenticate_header(self, request):
        return 'Bearer realm="device"'


class IsDevice(permissions.BasePermission):
    """The token's own device, and only it: a path naming another device is a 401."""

    def has_permission(self, request, view) -> bool:
        device = request.auth
        if not isinstance(device, Device):
            raise exceptions.NotAuthenticated("A device token is required (X-Device-Token).")
        path_id = view.kwargs.get("device_id")
        if path_id is not None and str(device.pk) != path_id:
            raise exceptions.AuthenticationFailed("This token does not belong to that device.")
        return True


class DashboardSession(authentication.SessionAuthentication):
    """The admin's login cookie, CSRF-checked; not logged in is a 401 (DRF would say 403)."""

    def authenticate_header(self, request):
        return 'Session realm="dashboard"'


class InOrganization(permissions.BasePermission):
    """A logged-in, active user of an organization with the view's `permission`."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            raise exceptions.NotAuthenticated("Log in to the dashboard first (session cookie).")
        if user.organization_id is None:
            raise exceptions.PermissionDenied("Your user belongs to no organization.")
        return user.has_perm(view.permission)


def send_key(token) -> APIKey:
    """The send-only API key given in a body as `api_key`, or a 401."""
    if not isinstance(token, str) or not token:
        raise exceptions.NotAuthenticated("api_key is required.")
    owner = key_owner_for_token(token) if len(token) < 200 else None
    if owner is None:
        raise exceptions.AuthenticationFailed("Invalid API key.")
    key, user = owner.key, owner.user
    if key.scope != APIKey.Scope.SEND:
        raise exceptions.AuthenticationFailed("Not a send-only API key: create one with scope send.")
    if not key.active or key.is_expired or not user.is_active or user.organization_id != key.organization_id:
        raise exceptions.AuthenticationFailed("API key is deactivated or expired.")
    return key
