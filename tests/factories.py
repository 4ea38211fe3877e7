import factory

from apikeys.models import APIKey
from apikeys.services import api_key_create
from connext import roles
from connext.models import Organization, User
from connext.services import user_create
from groups.models import Group


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")


class UserFactory(factory.django.DjangoModelFactory):
    """A user with a role; use `role=` (org admin by default)."""

    class Meta:
        model = User

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.com")

    @classmethod
    def _create(cls, model_class, *args, role=roles.ORG_ADMIN, **kwargs):
        return user_create(
            organization=kwargs["organization"],
            email=kwargs["email"],
            role=role,
            password=kwargs.get("password"),
            phone=kwargs.get("phone", ""),
        )


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Group {n}")
    number = factory.Sequence(lambda n: n + 1)


def make_api_key(user: User, *, scope: str = APIKey.Scope.FULL, **kwargs) -> tuple[APIKey, str]:
    return api_key_create(user=user, name=kwargs.pop("name", "test key"), scope=scope, **kwargs)
