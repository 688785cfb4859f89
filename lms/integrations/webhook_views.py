"""L&D's webhook pages: an integration's subscriptions, and each one's deliveries attempt by attempt."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, url_for
from flask_login import current_user

from lms.accounts.models import Role
from lms.core.access import fresh_second_factor, roles_required
from lms.core.clock import now
from lms.core.forms import ButtonForm
from lms.core.web import domain_errors, get_or_404, page_number, render_form
from lms.extensions import db
from lms.integrations.models import Integration
from lms.integrations.webhook_forms import SubscriptionForm
from lms.integrations.webhook_models import WebhookDelivery, WebhookSubscription
from lms.integrations.webhooks import (
    EVENT_TYPES,
    change_subscription,
    create_subscription,
    deliveries_of,
    rotate_secret,
    send_again,
    send_test_event,
    set_active,
    subscriptions_of,
)

bp = Blueprint("webhooks", __name__, url_prefix="/admin")

admin_only = roles_required(Role.LND_ADMIN)


def _list(integration: Integration, form: SubscriptionForm):
    return render_form(
        "integrations/webhooks.html",
        integration=integration,
        subscriptions=subscriptions_of(integration),
        form=form,
        event_titles=EVENT_TYPES,
    )


@bp.route("/integrations/<id:integration_id>/webhooks", methods=["GET", "POST"])
@admin_only
@fresh_second_factor  # the events carry people's names and email addresses to another system
def integration_webhooks(integration_id: int):
    integration = get_or_404(Integration, integration_id)
    form = SubscriptionForm()
    if form.validate_on_submit():
        with domain_errors(form):
            subscription = create_subscription(
                integration, form.url.data, form.event_types.data, by=current_user, now=now()
            )
            flash("The webhook is on. Give the receiver its signing secret, shown below.", "success")
            return redirect(url_for("webhooks.subscription", subscription_id=subscription.id))
    return _list(integration, form)


@bp.route("/webhooks/<id:subscription_id>")
@admin_only
def subscription(subscription_id: int):
    webhook = get_or_404(WebhookSubscription, subscription_id)
    page = db.paginate(deliveries_of(webhook), page=page_number(), per_page=25, error_out=False)
    return render_form(
        "integrations/webhook.html",
        webhook=webhook,
        page=page,
        button=ButtonForm(),
        event_titles=EVENT_TYPES,
    )


@bp.route("/webhooks/<id:subscription_id>/edit", methods=["GET", "POST"])
@admin_only
@fresh_second_factor
def edit(subscription_id: int):
    webhook = get_or_404(WebhookSubscription, subscription_id)
    form = SubscriptionForm(data={"url": webhook.url, "event_types": webhook.event_types})
    if form.validate_on_submit():
        with domain_errors(form):
            change_subscription(webhook, form.url.data, form.event_types.data, by=current_user, now=now())
            flash("The webhook is changed.", "success")
            return redirect(url_for("webhooks.subscription", subscription_id=webhook.id))
    return render_form("integrations/webhook_form.html", webhook=webhook, form=form)


def _button(subscription_id: int, action, message: str):
    webhook = get_or_404(WebhookSubscription, subscription_id)
    if ButtonForm().validate_on_submit():
        with domain_errors():
            action(webhook)
            flash(message, "success")
    return redirect(url_for("webhooks.subscription", subscription_id=webhook.id))


@bp.route("/webhooks/<id:subscription_id>/rotate-secret", methods=["POST"])
@admin_only
def rotate(subscription_id: int):
    return _button(
        subscription_id,
        lambda webhook: rotate_secret(webhook, by=current_user, now=now()),
        "A new signing secret is made. The previous one also signs for a day, while the receiver switches.",
    )


@bp.route("/webhooks/<id:subscription_id>/turn-off", methods=["POST"])
@admin_only
def turn_off(subscription_id: int):
    return _button(
        subscription_id,
        lambda webhook: set_active(webhook, False, by=current_user, now=now()),
        "The webhook is off: no events are sent to it.",
    )


@bp.route("/webhooks/<id:subscription_id>/turn-on", methods=["POST"])
@admin_only
def turn_on(subscription_id: int):
    return _button(
        subscription_id,
        lambda webhook: set_active(webhook, True, by=current_user, now=now()),
        "The webhook is on: new events are sent to it.",
    )


@bp.route("/webhooks/<id:subscription_id>/test", methods=["POST"])
@admin_only
def ping(subscription_id: int):
    return _button(
        subscription_id,
        lambda webhook: send_test_event(webhook, by=current_user, now=now()),
        "A test event is on its way; its delivery appears below within seconds.",
    )


@bp.route("/webhooks/deliveries/<id:delivery_id>")
@admin_only
def delivery(delivery_id: int):
    sent = get_or_404(WebhookDelivery, delivery_id)
    return render_form("integrations/webhook_delivery.html", delivery=sent, button=ButtonForm())


@bp.route("/webhooks/deliveries/<id:delivery_id>/send-again", methods=["POST"])
@admin_only
def resend(delivery_id: int):
    sent = get_or_404(WebhookDelivery, delivery_id)
    if ButtonForm().validate_on_submit():
        with domain_errors():
            send_again(sent, by=current_user, now=now())
            flash("The delivery is sent again, with the same event id.", "success")
    return redirect(url_for("webhooks.delivery", delivery_id=sent.id))
