"""Setup, auth (login, logout, me, refresh, password, ws-ticket) and the users API."""

from __future__ import annotations

from django.contrib.auth import logout as session_logout
from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services, tickets
from accounts.models import ApiToken, User
from accounts.permissions import IsAdmin
from accounts.serializers import (
    DeletedOutput,
    LoginInput,
    LogoutInput,
    LogoutOutput,
    PasswordChangeInput,
    RefreshInput,
    RefreshOutput,
    SetupAdminInput,
    SetupStatusOutput,
    TicketOutput,
    TokenPairOutput,
    UserCreateInput,
    UserListOutput,
    UserOutput,
    UserUpdateInput,
    user_summary,
)
from accounts.throttles import LoginThrottle
from taskflow_site.lib.api import (
    Conflict,
    InvalidCredentials,
    PageQuery,
    envelope,
    no_body,
    parse_query,
    unknown_fields,
    validation_details,
)


class SetupStatusApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses=SetupStatusOutput, tags=["setup"])
    def get(self, request):
        return envelope({"needsSetup": services.setup_needed()})


class SetupAdminApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(request=SetupAdminInput, responses={201: TokenPairOutput}, tags=["setup"])
    def post(self, request):
        if not services.setup_needed():  # cheap refusal: no hashing once closed
            raise Conflict("Setup is already complete; log in instead.")
        serializer = SetupAdminInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.setup_admin_create(**serializer.validated_data)
        except services.SetupClosed:
            raise Conflict("Setup is already complete; log in instead.") from None
        except DjangoValidationError as exc:
            details = exc.message_dict if hasattr(exc, "error_dict") else {"password": exc.messages}
            raise exceptions.ValidationError(details) from None
        data = services.token_pair_for(user)
        data["user"] = user_summary(user)
        return envelope(data, status.HTTP_201_CREATED)


# ---- auth ----


class LoginApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []  # a JWT login never needs (or checks) a session's CSRF token
    throttle_classes = [LoginThrottle]

    @extend_schema(request=LoginInput, responses=TokenPairOutput, tags=["auth"])
    def post(self, request):
        serializer = LoginInput(data=request.data)
        if not serializer.is_valid():
            unknown = unknown_fields(serializer.errors)
            if unknown:  # a client's mistake, not a failed login: say which key
                raise exceptions.ValidationError(unknown)
            raise InvalidCredentials()
        try:
            user, pair = services.user_login(**serializer.validated_data)
        except services.LoginFailed:
            raise InvalidCredentials() from None
        except services.PasswordLoginDisabled:
            raise exceptions.PermissionDenied(
                "Password login is disabled on this server: sign in with single sign-on at "
                "/oidc/authenticate/, or use an API token."
            ) from None
        return envelope({**pair, "user": user_summary(user)})


class RefreshApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []  # the refresh token in the body is the credential

    @extend_schema(request=RefreshInput, responses=RefreshOutput, tags=["auth"])
    def post(self, request):
        serializer = RefreshInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            _user, pair = services.token_refresh(refresh=serializer.validated_data["refresh"])
        except TokenError as exc:
            raise InvalidToken(str(exc)) from None
        return envelope(pair)


class LogoutApi(APIView):
    @extend_schema(request=LogoutInput, responses=LogoutOutput, tags=["auth"])
    def post(self, request):
        serializer = LogoutInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        access = request.auth if isinstance(request.auth, AccessToken) else None
        services.token_logout(
            user=request.user,
            access=access,  # the validated JWT; None for a session or an API token
            refresh=serializer.validated_data.get("refresh") or None,
        )
        if request.auth is None:  # a browser session
            session_logout(request._request)
        return envelope({"loggedOut": True})


class MeApi(APIView):
    @extend_schema(responses=UserOutput, tags=["auth"])
    def get(self, request):
        return envelope(user_summary(request.user))


class PasswordChangeApi(APIView):
    @extend_schema(request=PasswordChangeInput, responses=TokenPairOutput, tags=["auth"])
    def post(self, request):
        serializer = PasswordChangeInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request.user
        services.user_change_password(user=user, **serializer.validated_data)
        if request.auth is None:  # keep this browser session, drop the others
            update_session_auth_hash(request._request, user)
        # every older token is now refused; hand back a pair issued after the cut-off
        return envelope({**services.token_pair_for(user), "user": user_summary(user)})


class WsTicketApi(APIView):
    @extend_schema(request=None, responses={201: TicketOutput}, tags=["auth"])
    def post(self, request):
        no_body(request)
        # the socket lives only as long as the credential that asked for it
        access = request.auth if isinstance(request.auth, AccessToken) else None
        ticket, seconds = tickets.ticket_issue(
            user=request.user,
            access_jti=access.get("jti") if access is not None else None,
            api_token_id=request.auth.pk if isinstance(request.auth, ApiToken) else None,
        )
        return envelope({"ticket": ticket, "expiresIn": seconds}, status.HTTP_201_CREATED)


# ---- users (admin) ----


def _user_or_404(pk: int) -> User:
    if pk > 2**63 - 1:  # beyond any database integer: not found rather than an overflow
        raise exceptions.NotFound()
    return get_object_or_404(User, pk=pk)


def _user_errors(exc: DjangoValidationError):
    # user_create's validate_password raises a bare list of messages: they are the password's
    details = validation_details(exc) if hasattr(exc, "error_dict") else {"password": exc.messages}
    if any("already exists" in str(m) for m in details.get("username", [])):
        return Conflict("A user with that username already exists.")
    return exceptions.ValidationError(details)


class UserListApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(parameters=[PageQuery], responses=UserListOutput, tags=["users"])
    def get(self, request):
        page = parse_query(PageQuery, request)
        users = User.objects.order_by("username")
        rows = users[page["offset"] : page["offset"] + page["limit"]]
        return envelope(
            {"users": UserOutput(rows, many=True).data, "total": users.count()},
        )

    @extend_schema(request=UserCreateInput, responses={201: UserOutput}, tags=["users"])
    def post(self, request):
        serializer = UserCreateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        if User.objects.filter(username__iexact=serializer.validated_data["username"]).exists():
            raise Conflict("A user with that username already exists.")
        try:
            user = services.user_create(**serializer.validated_data)
        except DjangoValidationError as exc:
            raise _user_errors(exc) from None
        return envelope(user_summary(user), status.HTTP_201_CREATED)


class UserDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses=UserOutput, tags=["users"])
    def get(self, request, pk: int):
        return envelope(user_summary(_user_or_404(pk)))

    @extend_schema(request=UserUpdateInput, responses=UserOutput, tags=["users"])
    def put(self, request, pk: int):
        user = _user_or_404(pk)
        serializer = UserUpdateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.user_update(user=user, **serializer.validated_data)
        except services.LastAdmin:
            raise Conflict("This is the last active admin; promote another user first.") from None
        except DjangoValidationError as exc:
            raise _user_errors(exc) from None
        return envelope(user_summary(user))

    @extend_schema(request=UserUpdateInput, responses=UserOutput, tags=["users"])
    def patch(self, request, pk: int):
        return self.put(request, pk)

    @extend_schema(responses=DeletedOutput, tags=["users"])
    def delete(self, request, pk: int):
        no_body(request)
        user = _user_or_404(pk)
        try:
            services.user_delete(user=user)
        except services.LastAdmin:
            raise Conflict("This is the last active admin; it cannot be deleted.") from None
        except services.UserHasJobs:
            raise Conflict("This user owns jobs; reassign or delete them first.") from None
        return envelope({"id": str(pk), "deleted": True})
