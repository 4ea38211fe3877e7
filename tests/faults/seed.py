"""Run in a subprocess on the private stack: an organization, its admin, group 1 with `count`
texting subscribers (+12025550000, +12025550001, ...), then a blast to that group made the way
`POST /api/v1/blasts` makes it (the request serializer, then `blasts.compose.blast_create`,
which wakes the fan-out on the private Redis after commit). Prints {"message": id, ...} as JSON.

    DATABASE_URL=... REDIS_URL=... CELERY_QUEUE=... python -m tests.faults.seed 600
"""

import json
import sys

import django


def phone(i: int) -> str:
    return f"+1202555{i:04d}"


def main(count: int) -> dict:
    django.setup()
    from blasts import compose
    from blasts.serializers import BlastSerializer
    from connext.services import organization_create, user_create
    from groups.models import Group
    from subscribers.models import Subscriber

    org = organization_create(name="Faults")
    user = user_create(organization=org, email="admin@faults.test")
    group = Group.objects.create(organization=org, name="Everyone", number=1)
    people = Subscriber.objects.bulk_create(
        Subscriber(organization=org, first=f"P{i}", phone=phone(i), text=True) for i in range(count)
    )
    group.subscribers.add(*people)
    request = BlastSerializer(data={"types": ["sms"], "groups": [1], "message": "Hi {first}, fault drill."})
    request.is_valid(raise_exception=True)
    message = compose.blast_create(user=user, data=request.validated_data)
    return {"message": message.pk, "recipients": message.recipients}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))), flush=True)
