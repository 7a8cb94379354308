"""/oidc/ routes: start a single sign-on, and the provider's redirect back (the callback checks
state and nonce and signs the user in: mozilla-django-oidc's view)."""

from django.urls import path
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView

from accounts.oidc import OidcLoginView

urlpatterns = [
    path("authenticate/", OidcLoginView.as_view(), name="oidc_authentication_init"),
    path(
        "callback/", OIDCAuthenticationCallbackView.as_view(), name="oidc_authentication_callback"
    ),
]
