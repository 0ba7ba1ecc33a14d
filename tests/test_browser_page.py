"""The Spaces page in a real browser (Debian's Chromium, headless), against real aiortc bots.

The browser's microphone is Chromium's fake device playing a known tone; what the bots hear
is checked by FFT, and what the page hears through its own WebAudio analyser.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from playwright.async_api import Page, async_playwright, expect

from media_bench.client.api import ApiClient
from media_bench.client.bots import Bot, ListenerBot, SpeakerBot
from media_bench.client.marks import Signal
from media_bench.common.audio import band_ratio
from media_bench.common.contract import TicketTerms
from media_bench.server.harness import running_server
from media_bench.server.users import User, UserDirectory
from spaces_core.errors import Refused
from tests.chromium import ARTIFACTS, launch_args, system_chromium, write_tone

pytestmark = pytest.mark.timeout(180)

USERS = UserDirectory(
    [
        User("host", 5000, age=35, hosted_30d=4),  # hosts a ticketed room
        User("webhost", 4000, age=40, hosted_30d=4),
        *(User(f"u{i}", 10) for i in range(6)),
    ]
)
BOT_HZ, BROWSER_HZ = 440.0, 660.0
PURPLE = "rgb(120, 86, 255)"
HEARD = 0.1


@dataclass
class Stage:
    api: ApiClient
    url: str
    page: Page
    bots: list[Bot]

    async def token(self, user: str) -> str:
        return await self.api.token(user)

    async def listener(self, user: str, room_id: str) -> ListenerBot:
        token = await self.token(user)
        bot = ListenerBot(self.api, token, room_id, probe="full", record=True)
        self.bots.append(bot)
        await bot.join()
        await bot.wait_audio(10)
        return bot


def on_stage(body: Callable[[Stage], Awaitable[None]], tmp_path: Path) -> None:
    chromium = system_chromium()
    microphone = write_tone(tmp_path / "microphone.wav", BROWSER_HZ)

    async def scenario() -> None:
        async with (
            running_server(users=USERS) as running,
            ApiClient(running.url) as api,
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=launch_args(microphone)
            )
            page = await browser.new_page(viewport={"width": 900, "height": 900})
            stage = Stage(api, running.url, page, [])
            uncaught: list[str] = []
            page.on("pageerror", lambda error: uncaught.append(str(error)))
            try:
                await body(stage)
                assert uncaught == [], uncaught
            finally:
                for bot in stage.bots:
                    await bot.close()
                await browser.close()

    asyncio.run(scenario())


async def heard(bot: Bot, seconds: float = 1.5) -> np.ndarray:
    bot.probe.recording.clear()
    await asyncio.sleep(seconds)
    return np.concatenate([np.zeros(0, dtype=np.int16), *bot.probe.recording])


@asynccontextmanager
async def signed_in(stage: Stage, user: str) -> AsyncIterator[Page]:
    page = stage.page
    await page.goto(f"{stage.url}/?user={user}")
    await expect(page.locator("#whoami")).to_contain_text(f"Signed in as {user}")
    await page.check("#studio-mic")  # the test tone must reach the wire unprocessed
    yield page


async def page_hearing(page: Page) -> dict[str, float]:
    result: dict[str, float] = await page.evaluate("window.spacesPage.hearing()")
    return result


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)
    return False


def classes(*names: str) -> re.Pattern[str]:
    """Matches a class attribute holding every one of ``names``."""
    return re.compile("".join(rf"(?=.*\b{name}\b)" for name in names))


def screenshot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def test_browser_listener_hears_the_room_speaks_when_accepted_and_is_removed(
    tmp_path: Path,
) -> None:
    async def body(stage: Stage) -> None:
        host_token = await stage.token("host")
        room = await stage.api.create_room(host_token, "Tones", TicketTerms(price=4.99, cap=10))
        rid = room.id
        host = SpeakerBot(stage.api, host_token, rid, Signal(tone_hz=BOT_HZ), record=True)
        stage.bots.append(host)
        await host.join()
        await host.wait_audio(10)
        await stage.api.buy_ticket(await stage.token("u1"), rid)
        ear = await stage.listener("u1", rid)

        async with signed_in(stage, "u2") as page:
            # The Spaces bar: purple while live, pulsing while the host's tone plays.
            space = page.locator(f'#spaces-bar .space[data-room="{rid}"]')
            await expect(space).to_have_class(classes("live", "speaking"))
            await expect(space.locator(".price")).to_have_text("$4.99")
            circle = space.locator(".circle")
            colour = await circle.evaluate("c => getComputedStyle(c).backgroundColor")
            assert colour == PURPLE
            ring = await circle.evaluate("c => getComputedStyle(c, '::after').animationName")
            assert ring == "pulse"
            await page.screenshot(path=screenshot_path("spaces-bar.png"))

            # A ticketed room asks for a ticket first.
            await space.click()
            await expect(page.locator("#ticket")).to_be_visible()
            await expect(page.locator("#ticket-price")).to_have_text("$4.99")
            await page.click("#buy-ticket")
            await expect(page.locator("#room")).to_be_visible()
            await expect(page.locator("#my-role")).to_have_text("you are listening")
            await expect(page.locator('#speakers li[data-user="host"] .badge')).to_have_text("Host")
            await expect(page.locator("#listener-count")).to_have_text("2")

            # The browser hears the bot: its analyser peaks at the bot's tone.
            async def hears_bot() -> bool:
                now = await page_hearing(page)
                return abs(now["peakHz"] - BOT_HZ) < 15 and now["levelDb"] > -40

            assert await until(hears_bot), await page_hearing(page)
            host_item = page.locator('#speakers li[data-user="host"]')
            await expect(host_item).to_have_class(classes("speaking"))

            # Message the host; ask to speak; accept the host's invitation; the microphone goes out.
            await page.fill("#message-text", "hello from the browser")
            await page.click("#message-form button")
            await expect(page.locator("#notice")).to_have_text("Message sent to the host.")
            messages = await stage.api.call("GET", f"/rooms/{rid}/messages", host_token)
            assert [m["text"] for m in messages["messages"]] == ["hello from the browser"]

            before = await heard(ear)
            assert band_ratio(before, BROWSER_HZ) < 0.01
            await page.click("#request-speak")
            await expect(page.locator("#request-speak")).to_have_text("Requested")
            await stage.api.act(host_token, rid, "u2", "invite")
            await page.click("#accept-invite")
            await expect(page.locator("#my-role")).to_have_text("you are a speaker")
            assert await until(lambda: page.evaluate("window.spacesPage.session().publishing"))
            await asyncio.sleep(0.5)
            after = await heard(ear)
            assert band_ratio(after, BROWSER_HZ) > HEARD
            assert band_ratio(after, BOT_HZ) > HEARD
            await page.screenshot(path=screenshot_path("spaces-room-listener.png"))

            # Removed: told so, and the server refuses a rejoin.
            await stage.api.act(host_token, rid, "u2", "remove")
            await expect(page.locator("#notice")).to_contain_text("removed from this Space")
            await expect(page.locator("#room")).to_be_hidden()
            await space.click()
            await expect(page.locator("#notice")).to_contain_text("was removed from this room")
            state = await stage.api.room(host_token, rid)
            assert "u2" not in state.speakers
            assert state.listener_count == 1

    on_stage(body, tmp_path)


def test_browser_host_starts_a_space_is_heard_and_moderates(tmp_path: Path) -> None:
    async def body(stage: Stage) -> None:
        api = stage.api
        async with signed_in(stage, "webhost") as page:
            await expect(page.locator("#start")).to_be_visible()
            await page.fill("#start-title", "Browser hour")
            await page.click("#start-form button")
            await expect(page.locator("#my-role")).to_have_text("you are the host")
            token = await stage.token("webhost")
            rooms = (await api.call("GET", "/rooms", token))["rooms"]
            assert [r["title"] for r in rooms] == ["Browser hour"]
            rid = rooms[0]["id"]
            assert await until(lambda: page.evaluate("window.spacesPage.session().publishing"))

            # An aiortc listener hears the browser's microphone.
            ear = await stage.listener("u1", rid)
            assert band_ratio(await heard(ear), BROWSER_HZ) > HEARD
            space = page.locator(f'#spaces-bar .space[data-room="{rid}"]')
            await expect(space).to_have_class(classes("live", "speaking", "current"))

            # A guest asks to speak and writes; the host sees both and acts on them.
            guest = await stage.listener("u3", rid)
            guest_token = guest.token
            await api.call("POST", f"/rooms/{rid}/requests", guest_token)
            await api.call("POST", f"/rooms/{rid}/messages", guest_token, {"text": "hi host"})
            other = await stage.listener("u4", rid)
            await expect(page.locator('#messages li[data-from="u3"]')).to_have_text("u3: hi host")
            await page.click('#requests li[data-user="u3"] button[data-action="accept"]')
            await expect(page.locator('#speakers li[data-user="u3"] .badge')).to_have_text(
                "Speaker"
            )
            assert "u3" in (await api.room(token, rid)).speakers

            await page.click('#listeners li[data-user="u4"] button[data-action="invite"]')
            await expect(page.locator('#listeners li[data-user="u4"] .badge')).to_have_text(
                "invited"
            )
            participants = await api.call("GET", f"/rooms/{rid}/participants", token)
            invited = {p["user"]: p["invited"] for p in participants["participants"]}
            assert invited["u4"] is True

            await page.click('#speakers li[data-user="u3"] button[data-action="mute"]')
            await expect(page.locator('#speakers li[data-user="u3"]')).to_have_class(
                classes("muted")
            )
            assert "u3" in (await api.room(token, rid)).muted

            await page.click('#speakers li[data-user="u3"] button[data-action="listener"]')
            await expect(page.locator('#listeners li[data-user="u3"]')).to_have_count(1)
            assert "u3" not in (await api.room(token, rid)).speakers

            await page.click('#listeners li[data-user="u3"] button[data-action="remove"]')
            await expect(page.locator('#listeners li[data-user="u3"]')).to_have_count(0)
            assert (await api.room(token, rid)).listener_count == 2
            rejoin = ListenerBot(api, guest_token, rid)
            stage.bots.append(rejoin)
            with pytest.raises(Refused) as refused:
                await rejoin.join()
            assert refused.value.status == 403
            await page.screenshot(path=screenshot_path("spaces-room-host.png"))

            await page.click("#end-space")
            await expect(page.locator("#notice")).to_have_text("This Space has ended.")
            await expect(space).to_have_count(0)
            assert (await api.call("GET", "/rooms", token))["rooms"] == []
            assert other.role == "listener"

    on_stage(body, tmp_path)
