"""Pages for signing in and out, signing up and managing API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import ApiTokenForm, SignInForm, SignUpForm
from accounts.http import signed_in
from accounts.selectors import api_token_list
from accounts.services import (
    api_token_create,
    api_token_revoke,
    sign_in_failure_record,
    sign_in_failures_clear,
    sign_in_throttle_check,
    user_sign_up,
)
from core.errors import DomainError


class SignInView(auth_views.LoginView):
    """Sign in; a wrong name or password answers 401 with the form and one plain message."""

    form_class = SignInForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Check the throttle first: after repeated failures even a right password waits."""
        attempt = {
            "username": request.POST.get("username", ""),
            "client": request.META.get("REMOTE_ADDR", ""),
        }
        sign_in_throttle_check(**attempt)
        response = super().post(request, *args, **kwargs)
        if response.status_code == 401:
            sign_in_failure_record(**attempt)
        else:
            sign_in_failures_clear(**attempt)
        return response

    def form_invalid(self, form: SignInForm) -> HttpResponse:  # type: ignore[override]
        response = super().form_invalid(form)
        response.status_code = 401
        return response


class SignOutView(auth_views.LogoutView):
    """Sign out (POST only, as Django requires)."""


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    """Create an account and sign in; invalid input answers 400 and creates nothing."""
    if request.user.is_authenticated:
        return redirect("core:home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_sign_up(**form.cleaned_data)
        except DomainError as error:
            for field, errors in error.details.items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
            if not error.details:
                form.add_error(None, error.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.name}.")
            return redirect("core:home")
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/signup.html", {"form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """List the person's API tokens and create one; a new token is shown once, on this answer."""
    form = ApiTokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        _, new_token = api_token_create(user=signed_in(request), **form.cleaned_data)
        form = ApiTokenForm()
    status = 400 if request.method == "POST" and new_token is None else 200
    context = {
        "form": form,
        "new_token": new_token,
        "tokens": api_token_list(user=signed_in(request)),
    }
    response = render(request, "accounts/tokens.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the page may hold a secret
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the person's tokens."""
    token = api_token_revoke(user=signed_in(request), token_id=token_id)
    messages.success(request, f"Token “{token.name}” is revoked.")
    return redirect("accounts:tokens")
