"""/api/auth/*, /api/users, /api/tokens and /api/audit routes."""

from django.urls import path

from accounts import api, governance_api

urlpatterns = [
    path("auth/login", api.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", api.LogoutApi.as_view(), name="auth-logout"),
    path("auth/me", api.MeApi.as_view(), name="auth-me"),
    path("auth/refresh", api.RefreshApi.as_view(), name="auth-refresh"),
    path("auth/password", api.PasswordChangeApi.as_view(), name="auth-password"),
    path("auth/ws-ticket", api.WsTicketApi.as_view(), name="auth-ws-ticket"),
    path("users", api.UserListApi.as_view(), name="user-list"),
    path("users/<int:pk>", api.UserDetailApi.as_view(), name="user-detail"),
    path("tokens", governance_api.ApiTokenListApi.as_view(), name="token-list"),
    path("tokens/<int:pk>", governance_api.ApiTokenDetailApi.as_view(), name="token-detail"),
    path("audit", governance_api.AuditListApi.as_view(), name="audit-list"),
]
