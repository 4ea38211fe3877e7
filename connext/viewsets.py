"""The base every API view stands on: idempotency keys and organization scoping."""

from django.db import transaction
from rest_framework import generics, mixins, permissions, routers, viewsets
from rest_framework.metadata import SimpleMetadata
from rest_framework.views import APIView

from connext import idempotency
from connext.errors import ApplicationError


class ConnextMetadata(SimpleMetadata):
    """OPTIONS: DRF's description of the view, with the write fields (`actions`) of its serializer
    when it has one. A view that builds its bodies by hand (LogViewSet: POST /logs/{id}/cancel)
    has none to describe: DRF would fail asking for it, a 500."""

    def determine_actions(self, request, view):
        if getattr(view, "serializer_class", None) is None and (
            type(view).get_serializer_class is generics.GenericAPIView.get_serializer_class
        ):
            return {}
        return super().determine_actions(request, view)


class ConnextAPIMixin:
    """Around every API view, after auth, permission and throttle checks:

    - a write (POST/PATCH/DELETE) runs in one transaction, rolled back on any
      error, so a failed request never leaves half its rows behind;
    - an `Idempotency-Key` is claimed before the transaction and its response
      stored after the commit (see connext.idempotency).
    Reads run without a transaction: nothing to undo, two round trips saved.
    A NUL character in any query parameter is a 400 naming it. A method the view does not
    answer is a 405 before either (a bad Idempotency-Key on it is not the problem).
    """

    _atomic = None
    _throttles_checked = False
    metadata_class = ConnextMetadata

    def perform_authentication(self, request):
        # Throttle right after authentication, before permissions: a request the
        # role refuses still counts against the key and carries X-RateLimit-*.
        super().perform_authentication(request)
        self._throttles_checked = True
        super().check_throttles(request)

    def check_throttles(self, request):
        if not self._throttles_checked:
            super().check_throttles(request)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            self.http_method_not_allowed(request, *args, **kwargs)
        for name, values in request.query_params.lists():
            if any("\x00" in value for value in values):  # no database text holds one: a 400, not a 500
                raise ApplicationError("Must not contain NUL characters.", field=name)
        self._idempotency_record = idempotency.begin(request)
        if request.method not in permissions.SAFE_METHODS:
            self._atomic = transaction.atomic()
            self._atomic.__enter__()

    def _end_transaction(self, exc: BaseException | None = None) -> None:
        atomic, self._atomic = self._atomic, None
        if atomic is not None:
            if exc is None:
                atomic.__exit__(None, None, None)  # commit
            else:
                atomic.__exit__(type(exc), exc, exc.__traceback__)  # roll back

    def handle_exception(self, exc):
        self._end_transaction(exc)
        if isinstance(exc, idempotency.Replay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        self._end_transaction()
        response = super().finalize_response(request, response, *args, **kwargs)
        record = getattr(self, "_idempotency_record", None)
        if record is not None:
            self._idempotency_record = None
            idempotency.finish(record, response)
        return response


class ConnextAPIView(ConnextAPIMixin, APIView):
    """For action endpoints (send, estimate, cancel...): set `permission_map`."""


class OrgScopedViewSet(ConnextAPIMixin, viewsets.GenericViewSet):
    """Rows of the caller's organization only: another organization's id is a 404.

    Subclasses set `queryset`; `org_field` names the path to the organization.
    PUT is not part of the API: updates are PATCH.
    """

    org_field = "organization"
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    @property
    def organization(self):
        return self.request.user.organization

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no caller
            return self.queryset.none()
        return self.queryset.filter(**{self.org_field: self.organization})

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.request.method in ("PATCH", "DELETE"):
            # get_object() of a write: the row is locked for the write's transaction. A PATCH
            # racing a DELETE then finds it gone (404) instead of writing it back (Django's
            # save() inserts when its UPDATE finds no row), and both take the row before its
            # related rows: no deadlock between them.
            queryset = queryset.select_for_update(of=("self",), no_key=self.request.method == "PATCH")
        return queryset


class OrgScopedModelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, OrgScopedViewSet
):
    """List, retrieve and delete; create/partial_update are written per resource to call its service."""


class OptionalSlashRouter(routers.SimpleRouter):
    """`/groups` and `/groups/` reach the same view, without a redirect."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
