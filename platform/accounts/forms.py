"""Forms for signing in, signing up and naming API tokens."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from accounts.models import SELF_SERVICE_ROLES, Role
from accounts.services import MAX_TOKEN_DAYS


class SignInForm(AuthenticationForm):
    """Django's sign-in form with one plain message for any wrong name or password."""

    error_messages = {
        "invalid_login": "Unknown username or wrong password.",
        "inactive": "This account is switched off; ask the site's staff.",
    }


class SignUpForm(forms.Form):
    """A new artist, analyst or gallery account."""

    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(
        choices=[(role.value, role.label) for role in (Role(r) for r in SELF_SERVICE_ROLES)],
        widget=forms.RadioSelect,
    )
    password = forms.CharField(widget=forms.PasswordInput, strip=False)


class ApiTokenForm(forms.Form):
    """A name for a new token, and how long it lives."""

    name = forms.CharField(max_length=100)
    expires_in_days = forms.IntegerField(
        min_value=1, max_value=MAX_TOKEN_DAYS, required=False, help_text="Leave empty: no expiry."
    )
