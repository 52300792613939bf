"""Replies in the member's language, end to end: real PTB and slack-sdk against the fakes.

`me lang es` / `me lang ar` turn the same command's reply into Spanish / Arabic (Arabic with
its right-to-left marks); a Telegram user whose client says `language_code=fr` and a Slack
user whose locale is `es-ES` get their language from the first reply; what is never
translated (references, command words, TLP labels, typed text) stays as it is; posts to
channels stay in the channel language (English).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.adapters.telegram import TelegramAdapter
from bot.base.bidi import LRI, PDI, RLM
from bot.serving.app import App
from bot.serving.bootstrap import add_agency, add_member
from bot.serving.server import create_app
from tests.conftest import AppFactory
from tests.fakes.slack_api import SlackStack, slack_stack, text_of
from tests.fakes.telegram_api import (
    BOT_USERNAME,
    FakeBotAPI,
    UpdateFactory,
    group_chat,
    post_update,
    private_chat,
    tg_user,
)
from tests.fieldintel import ok, operation
from tests.serving import serving

SECRET = "s3cret-Token_1"
ADMIN = tg_user(1001, "Ana", "ana")
ADMIN_DM = private_chat(ADMIN)
GROUP_ID = -1005550
GROUP = group_chat(GROUP_ID, "Harbour room")


class Telegram:
    """The served app with its Telegram adapter and the fake Bot API."""

    def __init__(
        self, app: App, adapter: TelegramAdapter, client: httpx.AsyncClient, fake: FakeBotAPI
    ):
        self.app, self.adapter, self.client, self.fake = app, adapter, client, fake
        self.updates = UpdateFactory()

    async def say(self, text: str, user: dict[str, Any], chat: dict[str, Any]) -> str:
        """Send `text` as `user` in `chat`; return the plain text of the last answer there."""
        update = self.updates.command(text, user=user, chat=chat)
        assert (await post_update(self.client, update, SECRET)).status_code == 200
        await self.adapter.idle()
        return self.fake.sent(chat["id"])[-1].plain


@pytest.fixture
async def telegram(make_app: AppFactory, db_url: str) -> AsyncIterator[Telegram]:
    async with FakeBotAPI() as fake:
        app = await make_app(
            db_url, **fake.settings(SECRET, TASKFORCE_ADMINS="console:admin,telegram:1001")
        )
        app.extras.pop("scheduler", None)
        starlette = create_app(app.settings, app=app)
        async with serving(starlette) as url, httpx.AsyncClient(base_url=url) as client:
            adapter = next(a for a in starlette.state.adapters if a.platform == "telegram")
            assert isinstance(adapter, TelegramAdapter)
            yield Telegram(app, adapter, client, fake)


@pytest.fixture
async def slack(make_app: AppFactory, db_url: str) -> AsyncIterator[SlackStack]:
    async with slack_stack(make_app, db_url) as stack:
        yield stack


async def slack_say(slack: SlackStack, line: str, **kw: Any) -> str:
    resp = await slack.inbound.command(line, **kw)
    assert resp.status_code == 200, resp.text
    return text_of(resp.json())


# ------------------------------------------------------------------ Telegram


async def test_telegram_me_lang_es_then_ar_turns_the_same_reply(telegram: Telegram) -> None:
    await telegram.say('/op new "Night Harbour" --code OP-NH', ADMIN, ADMIN_DM)
    english = await telegram.say("/tf op show", ADMIN, ADMIN_DM)
    assert "Default TLP: TLP:AMBER" in english and "Linked channels:" in english

    assert "Tu idioma ahora es Español (es)." in await telegram.say(
        "/tf me lang es", ADMIN, ADMIN_DM
    )
    spanish = await telegram.say("/tf op show", ADMIN, ADMIN_DM)
    assert spanish.startswith("OP-NH Night Harbour")  # reference and typed name untouched
    assert "TLP por defecto: TLP:AMBER" in spanish  # the TLP label is never translated
    assert "Canales vinculados:" in spanish and "`op link`" in spanish
    assert "Zona horaria: UTC" in spanish
    assert "Creada: sáb, 28 nov 2026 09:00 UTC" in spanish  # Babel's Spanish date

    arabic_set = await telegram.say("/tf me lang ar", ADMIN, ADMIN_DM)
    assert "لغتك الآن العربية" in arabic_set
    arabic = await telegram.say("/tf op show", ADMIN, ADMIN_DM)
    lines = arabic.splitlines()
    assert all(line.startswith(RLM) for line in lines if line.strip())  # right to left
    assert f"{LRI}OP-NH Night Harbour{PDI}" in lines[0]  # the reference, isolated, intact
    # A label that starts with a Latin word still reads right to left, the word isolated.
    assert f"{RLM}{LRI}TLP{PDI} الافتراضي:" in arabic and f"{LRI}TLP:AMBER{PDI}" in arabic
    assert "القنوات المرتبطة:" in arabic
    # A refusal, too: the usage line keeps the grammar, the sentence is Arabic.
    refused = await telegram.say("/tf op status sleeping", ADMIN, ADMIN_DM)
    assert "ليست حالة صالحة" in refused and f"{LRI}sleeping{PDI}" in refused
    assert f"{LRI}op status [OP] <planning|active|suspended|closed>{PDI}" in refused


async def test_telegram_language_code_fr_gives_french_from_the_first_reply(
    telegram: Telegram,
) -> None:
    french_user = {**tg_user(3003, "Claire"), "language_code": "fr"}
    first = await telegram.say("/tf whoami", french_user, private_chat(french_user))
    assert first.startswith("Non inscrit")
    assert "pas encore membre de Taskforce" in first
    assert "`join <code>`" in first  # command words stay as they are typed

    # Unknown locale: English. Portuguese from Brazil: Portuguese.
    other = {**tg_user(3004, "Kai"), "language_code": "de"}
    assert (await telegram.say("/tf whoami", other, private_chat(other))).startswith(
        "Not registered"
    )
    brazil = {**tg_user(3005, "Bia"), "language_code": "pt-br"}
    assert (await telegram.say("/tf whoami", brazil, private_chat(brazil))).startswith(
        "Não registado"
    )


async def test_me_lang_beats_the_platform_locale_and_is_validated(telegram: Telegram) -> None:
    admin_fr = {**ADMIN, "language_code": "fr"}
    assert "Vos opérations" in await telegram.say("/tf op list", admin_fr, ADMIN_DM)
    assert "Tu idioma ahora es" in await telegram.say("/tf me lang es", admin_fr, ADMIN_DM)
    assert "Tus operaciones" in await telegram.say("/tf op list", admin_fr, ADMIN_DM)
    refused = await telegram.say("/tf me lang klingon", admin_fr, ADMIN_DM)
    assert refused.startswith("'klingon' no es un idioma que hable; elige uno de estos:")
    assert "en, es, pt, fr, ar" in refused
    assert "Tus operaciones" in await telegram.say("/tf op list", admin_fr, ADMIN_DM)


async def test_channel_posts_stay_in_the_channel_language(telegram: Telegram) -> None:
    await telegram.say('/op new "Night Harbour" --code OP-NH', ADMIN, ADMIN_DM)
    await telegram.say(f"/op@{BOT_USERNAME} link --max-tlp green", ADMIN, GROUP)
    await telegram.say("/tf me lang es", ADMIN, ADMIN_DM)
    await telegram.say("/tf op status active", ADMIN, GROUP)
    fake = telegram.fake

    def posted() -> list[str]:
        return [m.plain for m in fake.sent(GROUP_ID) if "Changed by Ana" in m.plain]

    await fake.wait_for(lambda: len(posted()) > 0)
    assert posted()[0].startswith("OP-NH is now active")  # the announcement: English
    replies = [m.plain for m in fake.sent(GROUP_ID)]
    assert "OP-NH pasa a estar activa (antes: en preparación)." in replies  # Spanish, wholly


# --------------------------------------------------------------------- Slack


async def test_slack_me_lang_es_then_ar_turns_the_same_reply(slack: SlackStack) -> None:
    await slack_say(slack, 'op new "Night Harbour" --code OP-NH')
    assert "Default TLP" in await slack_say(slack, "op show OP-NH")
    assert "Tu idioma ahora es Español (es)." in await slack_say(slack, "me lang es")
    spanish = await slack_say(slack, "op show OP-NH")
    assert "TLP por defecto" in spanish and "TLP:AMBER" in spanish
    assert "Canales vinculados:" in spanish

    await slack_say(slack, "me lang ar")
    arabic = await slack_say(slack, "op show OP-NH")
    assert "القنوات المرتبطة:" in arabic and f"{LRI}TLP{PDI} الافتراضي" in arabic
    assert f"{LRI}OP-NH Night Harbour{PDI}" in arabic and f"{LRI}TLP:AMBER{PDI}" in arabic
    assert all(
        line.startswith(RLM) or not line.strip() or line.startswith(("*", "_"))
        for line in arabic.splitlines()
    ), arabic


async def test_slack_user_locale_gives_the_first_reply_its_language(slack: SlackStack) -> None:
    slack.fake.add_user("UNEW", "maria", "María", locale="es-ES")
    first = await slack_say(slack, "whoami", user="UNEW", user_name="maria")
    assert "No registrado" in first and "`join &lt;code&gt;`" in first  # Slack-escaped
    # A failed lookup (unknown user) is English, and asked again next time.
    assert "Not registered" in await slack_say(slack, "whoami", user="UGHOST")
    calls = [c for c in slack.fake.calls() if c.method == "users.info"]
    assert any(str(c.args.get("include_locale")).lower() in ("true", "1") for c in calls)


async def test_slack_slow_locale_lookup_does_not_hold_the_ack(slack: SlackStack) -> None:
    slack.fake.add_user("USLOW", "ines", "Inês", locale="pt-PT")
    slack.fake.slow_next(3.0, method="users.info")
    first = await slack_say(slack, "whoami", user="USLOW", user_name="ines")
    assert "Not registered" in first  # answered in the ack, in the default language
    assert "Não registado" in await slack_say(slack, "whoami", user="USLOW", user_name="ines")


async def test_a_reference_copied_from_an_arabic_reply_works_typed_back(
    telegram: Telegram,
) -> None:
    await telegram.say('/op new "Night Harbour" --code OP-NH', ADMIN, ADMIN_DM)
    await telegram.say("/tf me lang ar", ADMIN, ADMIN_DM)
    shown = await telegram.say("/tf op show", ADMIN, ADMIN_DM)
    copied = shown.splitlines()[-1]  # the context line: RLM + LRI "OP-NH" PDI
    assert copied == f"{RLM}{LRI}OP-NH{PDI}"
    again = await telegram.say(f"/tf op show {copied}", ADMIN, ADMIN_DM)
    assert f"{LRI}OP-NH Night Harbour{PDI}" in again.splitlines()[0]
    # A bidirectional override is still refused. The refusal comes before any database
    # work, so it is in the platform's locale (here an Arabic phone).
    arabic_phone = {**ADMIN, "language_code": "ar"}
    refused = await telegram.say("/tf op show OP-NH\u202e", arabic_phone, ADMIN_DM)
    assert "تحتوي هذه الرسالة على محارف لا يمكنني قبولها" in refused


async def test_agency_language_when_neither_member_nor_platform_says(telegram: Telegram) -> None:
    store, now = telegram.app.store, telegram.app.core.clock()
    await add_agency(
        store, now, code="PT-PJ", name="Polícia Judiciária", country="PT", language="pt"
    )
    await add_agency(store, now, code="DE-BKA", name="BKA", country="DE", language="de")
    await add_member(store, now, name="Rui", identities=["telegram:4004"], agency="PT-PJ")
    await add_member(store, now, name="Jonas", identities=["telegram:4005"], agency="DE-BKA")
    rui = tg_user(4004, "Rui")
    chat = private_chat(rui)
    assert "Língua: Português (pt)" in await telegram.say("/tf whoami", rui, chat)  # agency
    rui_fr = {**rui, "language_code": "fr"}
    assert "Langue\u202f: Français (fr)" in await telegram.say("/tf whoami", rui_fr, chat)  # phone
    await telegram.say("/tf me lang es", rui_fr, chat)
    assert "Idioma: Español (es)" in await telegram.say("/tf whoami", rui_fr, chat)  # choice
    jonas = tg_user(4005, "Jonas")  # an agency language we do not speak: English
    assert "Identities:" in await telegram.say("/tf whoami", jonas, private_chat(jonas))


async def test_a_role_refusal_names_the_action_in_the_members_language(app: App) -> None:
    await app.console.push('op new "Night Harbour" --code OP-NH', as_="admin")
    invite = await app.console.push("op invite OP-NH --role observer", as_="admin")
    await app.console.push(f"join {dict(invite.message.fields)['Code']}", as_="olga")
    await app.console.push("me lang es", as_="olga")
    refused = await app.console.push("op invite OP-NH", as_="olga")
    assert not refused.ok
    assert refused.message.lines == ["Como observador en OP-NH no puedes gestionar la operación."]


async def test_slack_join_asks_users_info_once_for_name_and_locale(slack: SlackStack) -> None:
    await slack_say(slack, 'op new "Night Harbour" --code OP-NH')
    invite = await slack_say(slack, "op invite OP-NH")
    code = re.search(r"`join ([A-Z0-9]+)`", invite)
    assert code is not None, invite
    slack.fake.add_user("UFR", "claire", "Claire Martin", locale="fr-FR")
    joined = await slack_say(slack, f"join {code.group(1)}", user="UFR", user_name="claire")
    assert "Bienvenue dans OP-NH Night Harbour" in joined
    assert len([c for c in slack.fake.calls("users.info") if c.args.get("user") == "UFR"]) == 1


async def test_a_sighting_is_posted_in_english_while_its_reporter_reads_spanish(
    app: App,
) -> None:
    await operation(app, channels={"room": "amber"})
    await ok(app, "subject add person Ivan Petrov --category suspect")
    await app.console.pop_posts()
    await ok(app, "me lang es")
    reply = await ok(app, 'sighting S-1 at "Huelva marina" --grade B2')
    fields = dict(reply.message.fields)
    assert fields["Dónde"] == "Huelva marina"  # the reporter's own copy: Spanish
    assert any(v.startswith("B2 (fuente normalmente fiable") for v in fields.values())
    [post] = await app.console.pop_posts("room")
    posted = dict(post.message.fields)
    assert posted["Where"] == "Huelva marina"  # the channel's copy: English
    assert posted["Reporter's assessment"].startswith("B2 (source usually reliable")
    assert post.message.title == "Sighting SG-1 — S-1 Ivan Petrov"


async def test_a_raid_is_planned_in_spanish_and_posted_to_the_channel_in_english(
    app: App,
) -> None:
    await operation(app, channels={"room": "amber"})
    await app.console.pop_posts()
    await ok(app, "me lang es")
    plan = 'raid plan "Almacén" --at "2026-12-05 05:00" --tz Europe/Madrid --location "Vigo"'
    reply = await ok(app, plan, channel="room")
    assert reply.message.title == "R-1 planificado: Almacén"
    assert dict(reply.message.fields)["Ubicación"] == "Vigo"
    posts = await app.console.pop_posts("room")
    assert [p.message.title for p in posts] == ["R-1 planned: Almacén"]  # the channel: English
    assert all("Vigo" not in str(p.message.to_json()) for p in posts)  # AMBER+STRICT address
    # The built-in template's items are shown in the reader's language; the record stays.
    card = (await ok(app, "raid show R-1", channel="room")).message
    assert "Antes:" in card.lines
    assert any("Orden / habilitación legal comprobada" in line for line in card.lines)
    assert dict(card.fields)["Ubicación"] == "Vigo"
