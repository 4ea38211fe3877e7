"""Who may do what: the key's user must hold the model permission of the method.

A `send`-scope key reaches only views marked `send_action = True` and can never
read. Views with actions set `permission_map` to name the permissions they need.
"""

from rest_framework import exceptions, permissions

from apikeys.models import APIKey

METHOD_ACTIONS = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


def required_permissions(request, view) -> list[str]:
    mapping = getattr(view, "permission_map", None)
    if mapping is not None:
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        return list(mapping.get(method, []))
    # The class attribute names the model without building the scoped queryset.
    queryset = getattr(view, "queryset", None)
    model = queryset.model if queryset is not None else view.get_queryset().model
    action = METHOD_ACTIONS.get(request.method)
    if action is None:
        return []
    return [f"{model._meta.app_label}.{action}_{model._meta.model_name}"]


class RolePermission(permissions.BasePermission):
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, APIKey):
            return False  # DRF answers 401: no key was given
        if key.scope == APIKey.Scope.SEND and not getattr(view, "send_action", False):
            raise exceptions.PermissionDenied("This API key is send-only: it can send but never read or manage data.")
        return request.user.has_perms(required_permissions(request, view))
