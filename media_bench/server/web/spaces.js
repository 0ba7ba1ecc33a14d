// The Spaces page. Vanilla JavaScript, no build step: it talks to the same server's JSON API,
// reads its server-sent events through fetch (so the bearer token stays in a header) and
// joins rooms with the browser's own WebRTC stack.

const $ = (id) => document.getElementById(id);

const me = { user: null, token: null, canHost: false };
const bar = new Map(); // room id -> its circle in the Spaces bar
let lobby = null; // AbortController of the Spaces bar's event stream
let session = null; // the room this page is in
let audioContext = null;

class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = {};
  if (me.token) headers.Authorization = `Bearer ${me.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, payload.error || response.statusText);
  return payload;
}

async function streamEvents(path, onEvent, signal) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${me.token}` }, signal });
  if (!response.ok) {
    const payload = await response.json().catch(() => ({}));
    throw new ApiError(response.status, payload.error || response.statusText);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of chunk.split("\n")) {
        if (line.startsWith("data: ")) onEvent(JSON.parse(line.slice(6)));
      }
    }
  }
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = !text;
}

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

const initials = (user) => user.slice(0, 2).toUpperCase();
const speaks = (role) => role === "host" || role === "cohost" || role === "speaker";
const ROLE_LABELS = {
  host: "you are the host",
  cohost: "you are a co-host",
  speaker: "you are a speaker",
  listener: "you are listening",
};
const money = (price) => `$${Number(price).toFixed(2)}`;

// -- signing in ----------------------------------------------------------------------------
async function signIn(user) {
  if (session) await leaveRoom();
  const { token } = await api("POST", "/auth/token", { user });
  Object.assign(me, { user, token });
  const info = await api("GET", `/users/${encodeURIComponent(user)}`);
  me.canHost = info.can_host;
  $("whoami").textContent =
    `Signed in as ${user} · ${info.followers.toLocaleString()} followers` +
    (info.can_host ? " · can host" : "") +
    (info.can_host_ticketed ? " · can sell tickets" : "");
  $("whoami").hidden = false;
  $("start").hidden = !info.can_host || session !== null;
  // the server refuses a ticketed Space to a host who does not meet the Ticketed Spaces rules
  $("start-ticketed").disabled = !info.can_host_ticketed;
  if (!info.can_host_ticketed) $("start-ticketed").checked = false;
  $("spaces-bar").dataset.empty = "No live Spaces right now.";
  notice("");
  watchLobby();
}

async function suggestUsers() {
  const { users } = await api("GET", "/users?can_host=true&limit=20");
  $("known-users").replaceChildren(
    ...users.map((u) => element("option", { value: u.id, label: `${u.followers} followers` })),
  );
}

// -- the Spaces bar ------------------------------------------------------------------------
function watchLobby() {
  lobby?.abort();
  lobby = new AbortController();
  const signal = lobby.signal;
  streamEvents("/events", (event) => event.type === "rooms" && renderBar(event.rooms), signal)
    .catch((error) => error.name !== "AbortError" && notice(`Spaces bar: ${error.message}`))
    .finally(() => signal.aborted || setTimeout(watchLobby, 2000));
}

function renderBar(rooms) {
  const live = new Set(rooms.map((r) => r.id));
  for (const [id, node] of bar) {
    if (!live.has(id)) {
      node.remove();
      bar.delete(id);
    }
  }
  for (const room of rooms) {
    let node = bar.get(room.id);
    if (!node) {
      node = element(
        "button",
        { className: "space live", type: "button" },
        element("span", { className: "circle" }, initials(room.host)),
        element("span", { className: "label" }),
      );
      node.dataset.room = room.id;
      node.addEventListener("click", () => openRoom(room.id).catch((e) => notice(e.message)));
      if (room.price !== null) {
        node.querySelector(".circle").append(element("span", { className: "price" }, money(room.price)));
      }
      bar.set(room.id, node);
      $("spaces-bar").append(node);
    }
    node.classList.toggle("speaking", room.speaking);
    node.classList.toggle("current", session?.roomId === room.id);
    node.querySelector(".label").textContent = room.title || `${room.host}'s Space`;
    node.title =
      `${room.title || "Untitled"} · host ${room.host} · ${room.speaker_count} speaking, ` +
      `${room.listener_count} listening` + (room.price !== null ? ` · ticket ${money(room.price)}` : "");
    node.dataset.price = room.price ?? "";
  }
}

// -- joining -------------------------------------------------------------------------------
async function openRoom(roomId) {
  audioContext ??= new AudioContext(); // created inside the click, so playback is allowed
  if (session?.roomId === roomId) return;
  if (session) await leaveRoom();
  notice("");
  $("ticket").hidden = true;
  try {
    await joinRoom(roomId);
  } catch (error) {
    if (error.status === 403 && error.message.includes("ticket")) {
      askForTicket(roomId);
      return;
    }
    throw error;
  }
}

function askForTicket(roomId) {
  const price = bar.get(roomId)?.dataset.price;
  $("ticket-price").textContent = price ? money(price) : "a ticket";
  $("ticket").hidden = false;
  $("buy-ticket").onclick = async () => {
    try {
      await api("POST", `/rooms/${roomId}/tickets`);
    } catch (error) {
      if (!error.message.includes("already holds")) return notice(error.message);
    }
    $("ticket").hidden = true;
    await joinRoom(roomId).catch((e) => notice(e.message));
  };
  $("cancel-ticket").onclick = () => ($("ticket").hidden = true);
}

function iceGathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

async function joinRoom(roomId) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  // Send and receive from the start with no track: an invited listener only swaps its
  // microphone in, with no renegotiation.
  const transceiver = pc.addTransceiver("audio", { direction: "sendrecv" });
  const s = {
    roomId, pc, transceiver, role: null, mic: null, muted: false, invited: false,
    requested: false, events: new AbortController(), analyser: null, meter: null,
  };
  pc.addEventListener("track", (event) => hear(s, event.streams[0] ?? new MediaStream([event.track])));
  await pc.setLocalDescription(await pc.createOffer());
  await iceGathered(pc);
  let answer;
  try {
    answer = await api("POST", `/rooms/${roomId}/join`, { type: "offer", sdp: pc.localDescription.sdp });
  } catch (error) {
    pc.close();
    throw error;
  }
  await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  session = s;
  s.role = answer.role;
  $("room").hidden = false;
  $("start").hidden = true;
  bar.get(roomId)?.classList.add("current");
  streamEvents(`/rooms/${roomId}/events`, (event) => onRoomEvent(s, event), s.events.signal).catch(
    (error) => error.name !== "AbortError" && notice(`Room events: ${error.message}`),
  );
  if (speaks(s.role)) await startMic(s);
  await refresh(s);
  if (s.role === "host" || s.role === "cohost") await loadMessages(s);
}

function hear(s, stream) {
  const audio = $("room-audio");
  audio.srcObject = stream; // Chrome only feeds WebAudio from a remote stream that also plays
  audio.play().catch(() => {});
  audioContext ??= new AudioContext();
  audioContext.resume();
  const analyser = audioContext.createAnalyser();
  analyser.fftSize = 4096;
  audioContext.createMediaStreamSource(stream).connect(analyser);
  s.analyser = analyser;
  s.meter = setInterval(() => {
    $("level").value = Math.max(-100, levelDb(analyser));
  }, 100);
}

function levelDb(analyser) {
  const wave = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(wave);
  const rms = Math.sqrt(wave.reduce((sum, x) => sum + x * x, 0) / wave.length);
  return 20 * Math.log10(rms || 1e-10);
}

/** What this page hears now: level in dBFS and the loudest frequency. */
function hearing() {
  const analyser = session?.analyser;
  if (!analyser) return { levelDb: -Infinity, peakHz: 0 };
  const spectrum = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(spectrum);
  let peak = 1;
  for (let i = 2; i < spectrum.length; i++) if (spectrum[i] > spectrum[peak]) peak = i;
  return {
    levelDb: levelDb(analyser),
    peakHz: (peak * analyser.context.sampleRate) / analyser.fftSize,
  };
}

async function startMic(s) {
  if (s.mic) return;
  const processing = !$("studio-mic").checked;
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { echoCancellation: processing, noiseSuppression: processing, autoGainControl: processing },
  });
  s.mic = stream.getAudioTracks()[0];
  s.mic.enabled = !s.muted;
  await s.transceiver.sender.replaceTrack(s.mic);
}

async function stopMic(s) {
  if (!s.mic) return;
  await s.transceiver.sender.replaceTrack(null);
  s.mic.stop();
  s.mic = null;
}

function teardown(s, message) {
  if (session !== s) return;
  session = null;
  s.events.abort();
  clearInterval(s.meter);
  s.mic?.stop();
  s.pc.close();
  $("room").hidden = true;
  $("start").hidden = !me.canHost;
  $("level").value = -100;
  bar.get(s.roomId)?.classList.remove("current");
  notice(message);
}

async function leaveRoom() {
  const s = session;
  if (!s) return;
  await api("POST", `/rooms/${s.roomId}/leave`).catch(() => {});
  teardown(s, "");
}

// -- in a room -----------------------------------------------------------------------------
function onRoomEvent(s, event) {
  const mine = event.user === me.user;
  switch (event.type) {
    case "levels":
      for (const li of $("speakers").children) {
        li.classList.toggle("speaking", event.speaking.includes(li.dataset.user));
      }
      return;
    case "role":
      if (mine) {
        s.role = event.role;
        s.invited = s.requested = false;
        (speaks(event.role) ? startMic(s) : stopMic(s)).catch((e) => notice(`Microphone: ${e.message}`));
        if (event.role === "cohost") loadMessages(s);
      }
      break;
    case "muted":
    case "unmuted":
      if (mine) {
        s.muted = event.type === "muted";
        if (s.mic) s.mic.enabled = !s.muted;
        if (s.muted && event.by !== me.user) notice(`${event.by} muted you.`);
      }
      break;
    case "invited":
      if (mine) {
        s.invited = true;
        notice(`${event.by} invited you to speak.`);
      }
      break;
    case "message":
      addMessage(event);
      return;
    case "removed":
      if (mine) return teardown(s, `You were removed from this Space by ${event.by} and can't rejoin it.`);
      break;
    case "ended":
      return teardown(s, "This Space has ended.");
    case "closed":
      return;
  }
  refresh(s);
}

async function refresh(s) {
  // One refresh at a time; events that arrive meanwhile ask for one more.
  if (s.refreshing) {
    s.again = true;
    return;
  }
  s.refreshing = true;
  try {
    do {
      s.again = false;
      const [room, { participants }] = await Promise.all([
        api("GET", `/rooms/${s.roomId}`),
        api("GET", `/rooms/${s.roomId}/participants?limit=200`),
      ]);
      if (session === s) renderRoom(s, room, participants);
    } while (s.again && session === s);
  } catch (error) {
    if (session === s) notice(error.message);
  } finally {
    s.refreshing = false;
  }
}

function renderRoom(s, room, participants) {
  const moderator = s.role === "host" || s.role === "cohost";
  $("room-title").textContent = room.title || `${room.host}'s Space`;
  $("room-host").textContent = room.host;
  $("listener-count").textContent = room.listener_count;
  $("my-role").textContent = ROLE_LABELS[s.role];

  const speakers = participants.filter((p) => speaks(p.role));
  $("speakers").replaceChildren(...speakers.map((p) => speakerItem(s, p, room)));

  const listener = s.role === "listener";
  $("request-speak").hidden = !listener || s.invited;
  $("request-speak").disabled = s.requested;
  $("request-speak").textContent = s.requested ? "Requested" : "Request to speak";
  $("accept-invite").hidden = !(listener && s.invited);
  $("mute-self").hidden = !speaks(s.role) || s.muted;
  $("unmute-self").hidden = !speaks(s.role) || !s.muted;
  $("step-down").hidden = !(s.role === "speaker" || s.role === "cohost");
  $("end-space").hidden = s.role !== "host";
  $("message-form").hidden = moderator;
  $("host-panel").hidden = !moderator;
  if (!moderator) return;

  const listeners = participants.filter((p) => p.role === "listener");
  $("requests").replaceChildren(
    ...listeners.filter((p) => p.requested).map((p) => personItem(p.user, ["accept", "Let speak"])),
  );
  $("listeners").replaceChildren(
    ...listeners.map((p) => {
      const item = personItem(p.user, p.invited ? null : ["invite", "Invite to speak"], ["remove", "Remove"]);
      if (p.invited) item.querySelector(".name").after(" ", element("span", { className: "badge" }, "invited"));
      return item;
    }),
  );
}

function speakerItem(s, p, room) {
  const moderator = s.role === "host" || s.role === "cohost";
  const badge = { host: "Host", cohost: "Co-host", speaker: "Speaker" }[p.role];
  const li = element(
    "li",
    {},
    element("span", { className: "avatar" }, initials(p.user)),
    element("span", { className: p.muted ? "name mic-off" : "name" }, p.user),
    element("span", { className: "badge" }, badge),
  );
  li.dataset.user = p.user;
  li.dataset.role = p.role;
  li.classList.toggle("muted", p.muted);
  li.classList.toggle("speaking", room.speaking.includes(p.user));
  if (moderator && p.user !== me.user && p.role !== "host") {
    li.append(
      actionButtons(
        p.user,
        p.muted ? null : ["mute", "Mute"],
        p.role === "speaker" && s.role === "host" ? ["cohost", "Make co-host"] : null,
        ["listener", "To listener"],
        ["remove", "Remove"],
      ),
    );
  }
  return li;
}

function personItem(user, ...actions) {
  const li = element("li", {}, element("span", { className: "name" }, user), " ", actionButtons(user, ...actions));
  li.dataset.user = user;
  return li;
}

function actionButtons(user, ...actions) {
  const box = element("span", { className: "actions" });
  for (const action of actions) {
    if (!action) continue;
    const [name, label] = action;
    const button = element("button", { type: "button", className: "quiet" }, label);
    button.dataset.action = name;
    button.dataset.user = user;
    button.addEventListener("click", () => act(user, name));
    box.append(button);
  }
  return box;
}

async function act(user, action) {
  const s = session;
  if (!s) return;
  try {
    await api("POST", `/rooms/${s.roomId}/participants/${encodeURIComponent(user)}/${action}`);
  } catch (error) {
    notice(error.message);
  }
  refresh(s);
}

async function loadMessages(s) {
  const { messages } = await api("GET", `/rooms/${s.roomId}/messages`);
  $("messages").replaceChildren();
  messages.forEach(addMessage);
}

function addMessage(message) {
  const li = element("li", {}, element("strong", {}, message.from), `: ${message.text}`);
  li.dataset.from = message.from;
  $("messages").append(li);
}

// -- wiring --------------------------------------------------------------------------------
function onClick(id, handler) {
  $(id).addEventListener("click", () => handler().catch((e) => notice(e.message)));
}

function wire() {
  $("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("user").value.trim()).catch((e) => notice(`Sign in: ${e.message}`));
  });
  $("start-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const ticket = $("start-ticketed").checked
      ? { price: Number($("start-price").value), cap: Number($("start-cap").value) }
      : null;
    audioContext ??= new AudioContext();
    (async () => {
      if (session) await leaveRoom();
      const room = await api("POST", "/rooms", { title: $("start-title").value, ticket });
      await joinRoom(room.id);
    })().catch((e) => notice(`Start a Space: ${e.message}`));
  });
  onClick("request-speak", async () => {
    await api("POST", `/rooms/${session.roomId}/requests`);
    session.requested = true;
    refresh(session);
  });
  onClick("accept-invite", () => api("POST", `/rooms/${session.roomId}/invitation/accept`));
  onClick("mute-self", () => act(me.user, "mute"));
  onClick("unmute-self", () => act(me.user, "unmute"));
  onClick("step-down", () => act(me.user, "listener"));
  onClick("leave", leaveRoom);
  onClick("end-space", () => api("POST", `/rooms/${session.roomId}/end`));
  $("message-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("message-text").value.trim();
    api("POST", `/rooms/${session.roomId}/messages`, { text })
      .then(() => {
        $("message-text").value = "";
        notice("Message sent to the host.");
      })
      .catch((e) => notice(e.message));
  });
}

// Closing the tab leaves the room at once instead of when the server's ICE consent times out.
addEventListener("pagehide", () => {
  if (!session) return;
  fetch(`/rooms/${session.roomId}/leave`, {
    method: "POST",
    keepalive: true,
    headers: { Authorization: `Bearer ${me.token}` },
  });
});

window.spacesPage = {
  hearing,
  session: () =>
    session && {
      room: session.roomId,
      role: session.role,
      connection: session.pc.connectionState,
      publishing: Boolean(session.mic),
    },
};

wire();
suggestUsers().catch(() => {});
const preset = new URLSearchParams(location.search).get("user");
if (preset) {
  $("user").value = preset;
  signIn(preset).catch((e) => notice(`Sign in: ${e.message}`));
}
