"""Who may do what: the key's user must hold the model permission of the method.

A `send`-scope key reaches only views marked `send_action = True` and can never
read. Views with actions set `permission_map` to name the permissions they need
(connext.permissions.required_permissions).
"""

from rest_framework import exceptions, permissions

from apikeys.models import APIKey
from connext.permissions import required_permissions


class RolePermission(permissions.BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, APIKey):
            return False  # DRF answers 401: no key was given
        if key.scope == APIKey.Scope.SEND and not getattr(view, "send_action", False):
            raise exceptions.PermissionDenied("This API key is send-only: it can send but never read or manage data.")
        return request.user.has_perms(required_permissions(request, view))
