"""The API key in the OpenAPI schema: the `bearerAuth` security scheme.

drf-spectacular finds an extension by subclass registration, so this module must be
imported before a schema is built: APIKeysConfig.ready() does it.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.APIKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "cnxt_...",
            "description": "An API key created in the admin panel or with `manage.py createapikey`.",
        }
