"""`Authorization: Bearer cnxt_...`: the key acts as its user (same organization and permissions)."""

from rest_framework import authentication, exceptions

from apikeys.models import KEY_PREFIX
from apikeys.selectors import key_owner_for_token
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
        owner = key_owner_for_token(token)
        if owner is None:
            raise exceptions.AuthenticationFailed("Invalid API key.")
        key, user = owner.key, owner.user
        if not key.active:
            raise exceptions.AuthenticationFailed("API key is deactivated.")
        if key.is_expired:
            raise exceptions.AuthenticationFailed("API key has expired.")
        if not user.is_active or user.organization_id != key.organization_id:
            raise exceptions.AuthenticationFailed("API key's user is inactive.")
        api_key_touch(key=key)
        return user, key

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'
