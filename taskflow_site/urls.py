from django.contrib import admin
from django.urls import include, path

from accounts.api import SetupAdminApi, SetupStatusApi
from accounts.views import setup_page
from metrics.prometheus import metrics_view
from taskflow_site.debugtools import pprof, profiling_index, stacks
from taskflow_site.entry import ApiIndex, home_redirect
from taskflow_site.views import health

urlpatterns = [
    path("", home_redirect, name="home"),
    path("dashboard", home_redirect, name="dashboard"),  # LocalFlow's address for the home
    path("health", health, name="health"),
    path("metrics", metrics_view, name="prometheus-metrics"),  # token or loopback only
    path("debug/stacks", stacks, name="debug-stacks"),  # 404 unless --debug and an admin
    path("debug/", profiling_index, name="debug-index"),  # the same
    path("debug/pprof/", pprof, name="debug-pprof"),  # LocalFlow's address: to debug-index
    path("debug/pprof/<path:rest>", pprof),
    path("setup", setup_page, name="setup"),
    path("setup/status", SetupStatusApi.as_view(), name="setup-status"),
    path("setup/admin", SetupAdminApi.as_view(), name="setup-admin"),
    path("admin/", admin.site.urls),
    path("oidc/", include("accounts.oidc_urls")),  # single sign-on (404 unless configured)
    path("api/", ApiIndex.as_view(), name="api-index"),
    path("api/", include("taskflow_site.api_urls")),
]

# under /api/ an unknown URL or a malformed id is the JSON error envelope, not an HTML page
handler404 = "taskflow_site.lib.api.api_not_found"
handler500 = "taskflow_site.lib.api.api_server_error"
