"""People with one role each, and the API tokens they hold."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import models
from django.utils import timezone


class Role(models.TextChoices):
    """What a person does here; it decides their pages, navigation and API rights."""

    ARTIST = "artist", "Artist"
    ANALYST = "analyst", "Analyst"
    GALLERY = "gallery", "Gallery"
    STAFF = "staff", "Staff"


SELF_SERVICE_ROLES = (Role.ARTIST, Role.ANALYST, Role.GALLERY)


class UserManager(BaseUserManager["User"]):
    """Creates users; `createsuperuser` makes a staff member with every permission."""

    use_in_migrations = True

    def create_user(
        self, username: str, email: str = "", password: str | None = None, **extra: Any
    ) -> User:
        """A person with a hashed password (or an unusable one when none is given)."""
        user = self.model(username=username, email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(
        self, username: str, email: str = "", password: str | None = None, **extra: Any
    ) -> User:
        """A staff member who holds every permission."""
        return self.create_user(
            username, email, password, role=Role.STAFF, is_superuser=True, **extra
        )


class User(AbstractBaseUser, PermissionsMixin):
    """A person: artist, analyst, gallery or staff."""

    username = models.CharField(
        max_length=150,
        unique=True,
        validators=[UnicodeUsernameValidator()],
        help_text="150 characters or fewer: letters, digits and @/./+/-/_ only.",
        error_messages={"unique": "That username is taken."},
    )
    email = models.EmailField(blank=True)
    display_name = models.CharField(max_length=150, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="user_role_is_known"
            )
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def is_staff(self) -> bool:
        """Staff may use the admin site; the role is the one source of that."""
        return self.role == Role.STAFF

    def acts_as(self, role: Role) -> bool:
        """Whether this person may do what people of `role` do (their own role, or staff)."""
        return self.role == role or self.is_staff

    @property
    def name(self) -> str:
        """What to call this person on a page."""
        return self.display_name or self.username


class ApiToken(models.Model):
    """A bearer token for the API. Only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'laptop CLI'.")
    prefix = models.CharField(
        max_length=12, help_text="The token's first characters, to tell it apart."
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        """Not revoked and not expired."""
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )
