"""TaskFlow's admin site: every active staff user gets in, roles decide what they see.

Plus the pages in the admin's look (home, metrics). They have no JSON views of their own: the
first paint embeds what the API would return, the scripts then call /api/... with the session
cookie (docs/architecture.md, record 10). What an operator never needs is not registered:
django-q2's queue and schedules (our Run table is the queue and jobs are the scheduler,
records 1 and 2), auth groups (roles are on the user) and simplejwt's token tables.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.oidc import oidc_enabled
from accounts.services import setup_needed
from accounts.throttles import LoginThrottle, door_wait
from jobs.models import Job
from metrics.activity import dashboard_activity
from metrics.services import dashboard_stats, job_metrics, jobs_metrics
from runs.models import TriggerType
from taskflow_site.job_page import job_page
from taskflow_site.lib.admin import LookupGuard

RANGES = (7, 30, 90)  # days; the API's ?range=7d|30d|90d
ACTIVITY_HOURS = 24
NO_ID = "00000000-0000-0000-0000-000000000000"  # reversed, then replaced by the script
NOT_REGISTERED = frozenset(
    {
        "auth.Group",
        "django_q.Schedule",
        "django_q.Success",
        "django_q.OrmQ",
        "token_blacklist.OutstandingToken",
        "token_blacklist.BlacklistedToken",
    }
)
# registered for the admins' diagnostics link (django-q2's failed deliveries), not listed
UNLISTED_APPS = frozenset({"django_q"})


def setup_first() -> bool:
    """No user exists, so nobody could sign in: the setup page comes first. With single
    sign-on the first sign-in creates a user, so the sign-in page stays where it is."""
    return setup_needed() and not oidc_enabled()


class TaskFlowAdminSite(admin.AdminSite):
    site_header = "TaskFlow"
    site_title = "TaskFlow"
    index_title = "Home"
    index_template = "admin/index.html"
    site_url = None  # "/" only redirects back here
    enable_nav_sidebar = False  # tables get the whole width

    def register(self, model_or_iterable, admin_class=None, **options):
        many = isinstance(model_or_iterable, list | tuple)
        models = model_or_iterable if many else [model_or_iterable]
        kept = [model for model in models if model._meta.label not in NOT_REGISTERED]
        if kept:
            base = admin_class or admin.ModelAdmin
            if not issubclass(base, LookupGuard):
                base = type(base.__name__, (LookupGuard, base), {"__module__": base.__module__})
            super().register(kept, base, **options)

    def has_permission(self, request) -> bool:
        # every user is staff; querysets and per-model permissions scope what a role sees
        user = request.user
        return bool(user.is_active and user.is_staff)

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        return [app for app in apps if app["app_label"] not in UNLISTED_APPS]

    def each_context(self, request):
        context = super().each_context(request)
        user = request.user
        if getattr(user, "is_admin", False):
            context["diagnostics_url"] = reverse("admin:django_q_failure_changelist")
        return context

    def get_urls(self):
        extra = [
            path("metrics/", self.admin_view(self.metrics_page), name="metrics"),
            # before the job admin's own URLs; a UUID, so add/ and the rest still reach theirs
            path(
                "jobs/job/<uuid:object_id>/",
                self.admin_view(self.job_page),
                name="jobs_job_overview",
            ),
        ]
        return extra + super().get_urls()

    def job_page(self, request, object_id):
        return job_page(self._registry[Job], request, object_id)

    # ---- first run: no user yet, so nobody could sign in ----

    def login(self, request, extra_context=None):
        if setup_first():
            return redirect("setup")
        if request.method == "POST":  # the same 5/min per address as POST /api/auth/login
            wait = door_wait(LoginThrottle, request)
            if wait is not None:
                return self.login_refused(request, wait)
        return super().login(request, extra_context)

    def login_refused(self, request, wait: int):
        context = {
            **self.each_context(request),
            "title": "Log in",
            "app_path": request.get_full_path(),
            "form": AuthenticationForm(request),
            "login_refused": f"Too many login attempts from your address: try again in {wait} s.",
        }
        request.current_app = self.name
        response = TemplateResponse(request, "admin/login.html", context, status=429)
        response["Retry-After"] = str(wait)
        return response

    # ---- home ----

    def index(self, request, extra_context=None):
        user = request.user
        context = {
            "home": {
                "stats": dashboard_stats(user=user),
                "activity": dashboard_activity(user=user, hours=ACTIVITY_HOURS),
            },
            "home_urls": {
                "stats": reverse("dashboard-stats"),
                "activity": f"{reverse('dashboard-activity')}?hours={ACTIVITY_HOURS}",
                # admin pages of a run and a job; the script puts the id in place of __id__
                "runPage": reverse("admin:runs_run_change", args=["__id__"]),
                "jobPage": reverse("admin:jobs_job_overview", args=[NO_ID]).replace(
                    NO_ID, "__id__"
                ),
            },
            "trigger_labels": dict(TriggerType.choices),
            "can_add_job": getattr(user, "is_admin", False),
            **(extra_context or {}),
        }
        return super().index(request, context)

    # ---- metrics ----

    def metrics_page(self, request):
        """GET /api/metrics or /api/jobs/<id>/metrics, drawn: the same service, the same numbers."""
        jobs = Job.objects.visible_to(request.user).only("id", "name").order_by("name")
        job = None
        job_id = request.GET.get("job") or ""
        if job_id:
            try:
                job = jobs.get(pk=job_id)
            except (Job.DoesNotExist, ValidationError, ValueError) as exc:
                raise Http404("No such job.") from exc
        try:
            range_days = int(request.GET.get("range", 7))
        except ValueError:
            range_days = 7
        if range_days not in RANGES:
            range_days = 7
        if job is None:
            history = jobs_metrics(user=request.user, range_days=range_days)
        else:
            history = job_metrics(job=job, range_days=range_days)
        context = {
            **self.each_context(request),
            "title": f"Metrics — {job.name if job else 'all jobs'}",
            "jobs": jobs,
            "job": job,
            "range_days": range_days,
            "ranges": RANGES,
            "history": history,
        }
        request.current_app = self.name
        return TemplateResponse(request, "taskflow/metrics.html", context)
