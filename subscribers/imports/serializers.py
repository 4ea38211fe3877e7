"""An import job on the wire: GET /subscribers/imports/{id} answers it, notifyUrl receives it."""

from rest_framework import serializers

from subscribers.imports.limits import MAX_REPORTED_ERRORS
from subscribers.models import ImportJob


class ImportErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="CSV: the line in the file (the header is line 1). JSON: 1-based index.")
    message = serializers.CharField(help_text="Starts with the field at fault.")


class ImportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=ImportJob.Status.choices)
    total = serializers.IntegerField(help_text="Rows read so far (blank lines aside) = created + updated + skipped.")
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    skipped = serializers.IntegerField(
        help_text="Rows not written: bad rows, duplicates within the file (the first one wins), and existing "
        "subscribers when updateExisting is 0."
    )
    errors = ImportErrorSerializer(
        many=True, help_text=f"Bad rows, by line; the first {MAX_REPORTED_ERRORS} are listed."
    )
    createdAt = serializers.DateTimeField(source="created_at")
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    failure = serializers.SerializerMethodField(help_text="Why a failed job stopped; null otherwise.")

    def get_failure(self, job) -> str | None:
        return job.failure or None
