"""The model permissions a request needs, from the view: its `permission_map`, or the
model of its queryset and the method (GET -> view, POST -> add, PATCH -> change...).

The policy that checks them against the caller (apikeys.permissions.RolePermission)
lives with the credential it knows.
"""

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
