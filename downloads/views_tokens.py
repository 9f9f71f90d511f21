"""The account page for personal API tokens: make one (shown once), see them, revoke one.

Only a logged-in browser gets here: downloads/tokenauth.py refuses a Bearer token on any view but
the downloads and the API, so a token cannot make another token."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from downloads.tokens import ApiToken

# Enough for every script someone runs; a bound on rows one account can make.
MAX_ACTIVE_TOKENS = 50
EXPIRY_CHOICES = [
    ("7", "7 days"),
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "1 year"),
    ("", "Never"),
]


class NewTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What it is for, e.g. “nightly backup”.")
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=EXPIRY_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        initial="90",
    )

    def __init__(self, *args: object, user: AbstractBaseUser, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.user = user

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        active = ApiToken.objects.filter(user_id=self.user.pk).usable(timezone.now()).count()
        if active >= MAX_ACTIVE_TOKENS:
            raise forms.ValidationError(
                f"You have {active} active tokens, the most allowed: revoke one first."
            )
        return cleaned


def _page(
    request: HttpRequest, form: NewTokenForm, new_secret: str = "", status: int = 200
) -> HttpResponse:
    return render(
        request,
        "downloads/tokens.html",
        {
            "form": form,
            "tokens": ApiToken.objects.filter(user_id=form.user.pk),
            "new_secret": new_secret,
            "now": timezone.now(),
        },
        status=status,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, AbstractBaseUser)  # LoginRequiredMiddleware let only users in
    if request.method != "POST":
        return _page(request, NewTokenForm(user=user))
    form = NewTokenForm(request.POST, user=user)
    if not form.is_valid():
        return _page(request, form, status=400)
    days = form.cleaned_data["expires_in_days"]
    expires_at = timezone.now() + timedelta(days=days) if days else None
    with transaction.atomic():
        _token, secret = ApiToken.issue(user, form.cleaned_data["name"], expires_at)
    # The secret goes out in this answer only (private, no-store; downloads/cachecontrol.py),
    # never through a redirect, the session or a message, which would store it.
    return _page(request, NewTokenForm(user=user), new_secret=secret, status=201)


@require_POST
def revoke(request: HttpRequest, token_id: int) -> HttpResponseRedirect:
    # Someone else's token is the same 404 as one that does not exist.
    token = get_object_or_404(ApiToken, pk=token_id, user_id=request.user.pk)
    token.revoke()
    messages.success(request, f"Revoked “{token.name}”: it no longer opens anything.")
    return HttpResponseRedirect(reverse("downloads:tokens"))
