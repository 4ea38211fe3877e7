"""`Authorization: Bearer cnxt_...`: the key acts as its user (same organization and permissions)."""

from rest_framework import authentication, exceptions

from apikeys.models import KEY_PREFIX, APIKey, hash_key
from apikeys.services import api_key_touch


class APIKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None  # -> 401 "Authentication credentials were not provided."
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <API key>'.")
        if not token.startswith(KEY_PREFIX):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        key = APIKey.objects.select_related("user", "organization").filter(key_hash=hash_key(token)).first()
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if not key.active:
            raise exceptions.AuthenticationFailed("API key is deactivated.")
        if key.is_expired:
            raise exceptions.AuthenticationFailed("API key has expired.")
        user = key.user
        if not user.is_active or user.organization_id != key.organization_id:
            raise exceptions.AuthenticationFailed("API key's user is inactive.")
        user.organization = key.organization  # one query loaded both; share the instance
        api_key_touch(key=key)
        return user, key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'
