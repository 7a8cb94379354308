"""The /setup page: a browser form for the first admin, in the admin's look."""

from __future__ import annotations

from django import forms
from django.contrib.auth import login
from django.contrib.auth.password_validation import password_validators_help_text_html
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import services


class SetupForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]+\Z", max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(
        widget=forms.PasswordInput, help_text=password_validators_help_text_html()
    )
    password_confirm = forms.CharField(widget=forms.PasswordInput, label="Password (again)")

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_confirm"):
            self.add_error("password_confirm", "The two passwords differ.")
        return data


@require_http_methods(["GET", "POST"])
def setup_page(request):
    if not services.setup_needed():
        return redirect("admin:index")
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.setup_admin_create(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                email=form.cleaned_data["email"],
            )
        except services.SetupClosed:
            return redirect("admin:index")
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error("password", message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("admin:index")
    return render(request, "setup.html", {"form": form, "title": "Set up TaskFlow"})
