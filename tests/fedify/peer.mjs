// A remote fediverse server for the tests: Fedify 2.x (the framework under Ghost's ActivityPub
// service) serving accounts `@{user}@127.0.0.1:{port}` over plain http on loopback. Every
// signature it makes and every one it checks goes through Fedify's own code; inbox listeners only
// run for activities whose HTTP signature verified and whose key belongs to the activity's actor.
//
//   node peer.mjs READY_FILE        (env: PORT=0, FEDIFY_PEER_HOST=127.0.0.1,
//                                    FEDIFY_PEER_USERS=reader,reader2, FEDIFY_FIRST_KNOCK=
//                                    draft-cavage-http-signatures-12 | rfc9421,
//                                    FEDIFY_PEER_AUTO_ACCEPT=1)
//
// Fedify routes: /.well-known/webfinger, /.well-known/nodeinfo, /users/{user} (actor, RSA key
// `#main-key`), /users/{user}/inbox, /users/{user}/followers, /inbox (the shared inbox).
// The control API (JSON) for the test, same port:
//   GET  /control/health                    {"origin", "users"}
//   POST /control/follow   {"handle", "as"} WebFinger + actor lookup, a signed Follow to its inbox
//   POST /control/unfollow {"handle", "as"} a signed Undo of that Follow (the Follow embedded)
//   GET  /control/received                  every POST to an inbox, verified or not, in order
//   GET  /control/sent                      every outgoing request Fedify made (method, url, status)
//   GET  /control/state                     {"following": {...}, "followers": {...}}
//   POST /control/reset                     forget received, sent, following and followers
// Writes {"origin", "port"} to READY_FILE once listening; stops on SIGTERM.
import fs from "node:fs";
import http from "node:http";
import {
  createFederation, generateCryptoKeyPair, MemoryKvStore, verifyRequestDetailed,
} from "@fedify/fedify";
import {
  Accept, Activity, Announce, Endpoints, Follow, Person, Undo,
} from "@fedify/vocab";

const HOST = process.env.FEDIFY_PEER_HOST || "127.0.0.1";
const USERS = (process.env.FEDIFY_PEER_USERS || "reader,reader2").split(",").filter(Boolean);
const FIRST_KNOCK = process.env.FEDIFY_FIRST_KNOCK || "draft-cavage-http-signatures-12";
const AUTO_ACCEPT = (process.env.FEDIFY_PEER_AUTO_ACCEPT ?? "1") !== "0";
const MAX_BODY = 2 * 1024 * 1024;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

const state = { received: [], sent: [], following: {}, followers: {}, seq: 0 };

// Fedify (like Mastodon) looks `acct:` handles up over https only. On loopback this peer has no
// TLS, so https://{loopback}/… becomes http://{loopback}/… (Fedify's WebFinger code still runs);
// every outgoing request is recorded for /control/sent.
const realFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  let request = new Request(input, init);
  const url = new URL(request.url);
  if (url.protocol === "https:" && LOOPBACK.has(url.hostname)) {
    url.protocol = "http:";
    const body = ["GET", "HEAD"].includes(request.method) ? undefined : await request.arrayBuffer();
    request = new Request(url, { method: request.method, headers: request.headers, body,
                                 redirect: request.redirect, signal: request.signal });
  }
  const entry = { method: request.method, url: request.url, ...signatureInfo(request.headers) };
  state.sent.push(entry);
  try {
    const response = await realFetch(request);
    entry.status = response.status;
    return response;
  } catch (error) {
    entry.error = String(error?.cause ?? error);
    throw error;
  }
};

function signatureInfo(headers) {
  const input = headers.get("signature-input");
  if (input) {
    const components = /\(([^)]*)\)/.exec(input)?.[1] ?? "";
    return { signature_spec: "rfc9421", key_id: /keyid="([^"]*)"/.exec(input)?.[1] ?? null,
             algorithm: /alg="([^"]*)"/.exec(input)?.[1] ?? null,
             signed_components: components.split(/\s+/).filter(Boolean).map((c) => c.replaceAll('"', "")) };
  }
  const sig = headers.get("signature");
  if (sig) {
    return { signature_spec: "draft-cavage-http-signatures-12",
             key_id: /keyId="([^"]*)"/.exec(sig)?.[1] ?? null,
             algorithm: /algorithm="([^"]*)"/.exec(sig)?.[1] ?? null,
             signed_components: (/headers="([^"]*)"/.exec(sig)?.[1] ?? "date").split(/\s+/) };
  }
  return { signature_spec: null, key_id: null, algorithm: null, signed_components: [] };
}

const keys = new Map();
function keyPairs(identifier) {
  if (!keys.has(identifier)) keys.set(identifier, generateCryptoKeyPair("RSASSA-PKCS1-v1_5"));
  return keys.get(identifier);
}

let federation;  // made once the port is known (the origin carries it)

function setUp(origin) {
  federation = createFederation({
    kv: new MemoryKvStore(),
    origin,
    allowPrivateAddress: true,  // fetch http://127.0.0.1:… actors and keys ("testing only")
    firstKnock: FIRST_KNOCK,    // sign as Mastodon does (cavage) unless told otherwise
    skipSignatureVerification: false,
  });
  federation.setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (!USERS.includes(identifier)) return null;
    const [pair] = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: `Test reader ${identifier}`,
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      followers: ctx.getFollowersUri(identifier),
      publicKey: pair.cryptographicKey,
      manuallyApprovesFollowers: false,
    });
  }).setKeyPairsDispatcher(async (ctx, identifier) => {
    if (!USERS.includes(identifier)) return [];
    return [await keyPairs(identifier)];
  });
  federation.setFollowersDispatcher("/users/{identifier}/followers", (ctx, identifier) => {
    const items = Object.keys(state.followers[identifier] ?? {}).map((id) => new URL(id));
    return { items };
  });
  federation.setInboxListeners("/users/{identifier}/inbox", "/inbox")
    .withIdempotency(() => null)  // every delivery reaches the listeners: duplicates stay visible
    .on(Follow, onFollow)
    .on(Accept, onAccept)
    .on(Undo, onUndo)
    .on(Announce, onAnnounce)
    .on(Activity, async (ctx) => { verified(ctx); })
    .onUnverifiedActivity((ctx, activity, reason) => {
      const record = ctx.data?.record;
      if (record) {
        record.verified = false;
        record.reason = reason.type;
        if (reason.keyId) record.reason_key_id = reason.keyId.href;
        if (reason.type === "keyFetchError") {
          record.key_fetch = "status" in reason.result ? reason.result.status : String(reason.result.error);
        }
      }
      // returning nothing keeps Fedify's own 401
    })
    .onError((ctx, error) => {
      const record = ctx.data?.record;
      if (record) record.error = String(error);
    });
}

function verified(ctx) {
  const record = ctx.data?.record;
  if (record) {
    record.verified = true;
    record.recipient = ctx.recipient;
  }
  return record;
}

async function onFollow(ctx, follow) {
  verified(ctx);
  if (ctx.recipient == null || follow.actorId == null) return;
  const mine = ctx.parseUri(follow.objectId);
  if (mine?.type !== "actor" || mine.identifier !== ctx.recipient) return;
  (state.followers[ctx.recipient] ??= {})[follow.actorId.href] = follow.id?.href ?? null;
  if (!AUTO_ACCEPT) return;
  // Sent after the 202, as Mastodon does from its queue.
  const recipient = ctx.recipient;
  setImmediate(async () => {
    try {
      const follower = await follow.getActor(ctx);
      // the Follow embedded as Mastodon embeds it: id, type, actor, object
      const embedded = new Follow({ id: follow.id, actor: follow.actorId, object: follow.objectId });
      await ctx.sendActivity({ identifier: recipient }, follower, new Accept({
        id: new URL(`${ctx.getActorUri(recipient).href}#accepts/${crypto.randomUUID()}`),
        actor: ctx.getActorUri(recipient),
        object: embedded,
      }));
    } catch (error) {
      state.sent.push({ method: "POST", url: follow.actorId.href, error: `Accept: ${error}` });
    }
  });
}

async function onAccept(ctx, accept) {
  const record = verified(ctx);
  // the id of the Follow, embedded or not (getObject() would refetch an object embedded from
  // another origin, as Fedify trusts no cross-origin embedding)
  const followId = accept.objectId?.href;
  for (const byTarget of Object.values(state.following)) {
    for (const f of Object.values(byTarget)) {
      if (f.follow_id === followId && f.actor === accept.actorId?.href) {
        f.accepted = true;
        if (record) record.accepted_follow = followId;
      }
    }
  }
}

async function onUndo(ctx, undo) {
  verified(ctx);
  let object = null;
  try { object = await undo.getObject(ctx); } catch { return; }
  if (object instanceof Follow && ctx.recipient != null && undo.actorId) {
    delete state.followers[ctx.recipient]?.[undo.actorId.href];
  }
}

async function onAnnounce(ctx, announce) {
  const record = verified(ctx);
  // Mastodon looks a boosted object up by its id; so does this peer (Fedify's document loader).
  try {
    const object = await announce.getObject(ctx);
    if (record) record.object = object == null ? null : await object.toJsonLd();
  } catch (error) {
    if (record) record.object_error = String(error);
  }
}

async function findActor(ctx, handle) {
  const actor = await ctx.lookupObject(handle.startsWith("http") ? handle : handle.replace(/^(acct:|@)/, "@"));
  if (actor == null || actor.inboxId == null || actor.id == null) return null;
  return actor;
}

async function controlFollow(body) {
  const ctx = federation.createContext(new URL(origin()));
  const actor = await findActor(ctx, body.handle);
  if (actor == null) return [404, { error: `could not look up ${body.handle} (WebFinger or actor)` }];
  const me = ctx.getActorUri(body.as);
  const follow = new Follow({
    id: new URL(`${me.href}#follows/${crypto.randomUUID()}`), actor: me, object: actor.id,
  });
  // recorded before it is sent (the Accept may arrive before the Follow's 202 does)
  const following = (state.following[body.as] ??= {});
  const previous = following[actor.id.href];
  following[actor.id.href] = {
    follow_id: follow.id.href, actor: actor.id.href, follow: await follow.toJsonLd(), accepted: false,
  };
  try {
    await ctx.sendActivity({ identifier: body.as }, actor, follow);
  } catch (error) {
    if (previous) following[actor.id.href] = previous;
    else delete following[actor.id.href];
    throw error;
  }
  return [200, { follow_id: follow.id.href, actor: actor.id.href, inbox: actor.inboxId.href,
                 shared_inbox: actor.endpoints?.sharedInbox?.href ?? null }];
}

async function controlUnfollow(body) {
  const ctx = federation.createContext(new URL(origin()));
  const actor = await findActor(ctx, body.handle);
  if (actor == null) return [404, { error: `could not look up ${body.handle} (WebFinger or actor)` }];
  const entry = state.following[body.as]?.[actor.id.href];
  if (!entry) return [409, { error: `${body.as} does not follow ${actor.id.href}` }];
  const me = ctx.getActorUri(body.as);
  const follow = new Follow({ id: new URL(entry.follow_id), actor: me, object: actor.id });
  const undo = new Undo({ id: new URL(`${entry.follow_id}/undo`), actor: me, object: follow });
  await ctx.sendActivity({ identifier: body.as }, actor, undo);
  delete state.following[body.as][actor.id.href];
  return [200, { undo_id: undo.id.href, follow_id: entry.follow_id, actor: actor.id.href }];
}

async function control(method, path, raw) {
  if (method === "GET" && path === "/control/health") return [200, { origin: origin(), users: USERS }];
  if (method === "GET" && path === "/control/received") return [200, state.received];
  if (method === "GET" && path === "/control/sent") return [200, state.sent];
  if (method === "GET" && path === "/control/state") {
    return [200, { following: state.following, followers: state.followers }];
  }
  if (method === "POST" && path === "/control/reset") {
    Object.assign(state, { received: [], sent: [], following: {}, followers: {} });
    return [200, { ok: true }];
  }
  if (method === "POST" && (path === "/control/follow" || path === "/control/unfollow")) {
    let body;
    try { body = JSON.parse(raw.toString() || "{}"); } catch { return [400, { error: "not JSON" }]; }
    if (typeof body.handle !== "string" || !body.handle) return [400, { error: "handle is required" }];
    body.as ??= USERS[0];
    if (!USERS.includes(body.as)) return [400, { error: `no local user ${body.as}` }];
    try {
      return await (path === "/control/follow" ? controlFollow(body) : controlUnfollow(body));
    } catch (error) {
      return [502, { error: String(error) }];
    }
  }
  return [404, { error: "no such control endpoint" }];
}

// Fedify's inbox skips the HTTP signature when a Linked Data signature or an Object Integrity
// Proof in the body verifies; so the HTTP signature alone is also checked, with Fedify's
// verifyRequestDetailed (same one-hour window), and reported as `http_signature`.
const httpKeys = new Map();
const keyCache = {
  async get(keyId) { return httpKeys.get(keyId.href); },
  async set(keyId, key) { if (key == null) httpKeys.delete(keyId.href); else httpKeys.set(keyId.href, key); },
};

async function checkHttpSignature(request) {
  const ctx = federation.createContext(request);
  const result = await verifyRequestDetailed(request, {
    documentLoader: ctx.documentLoader, contextLoader: ctx.contextLoader, keyCache,
  });
  if (result.verified) return { verified: true, key_id: result.key.id?.href ?? null, reason: null };
  return { verified: false, key_id: result.reason.keyId?.href ?? null, reason: result.reason.type };
}

const INBOX = /^\/(users\/[^/]+\/)?inbox$/;

async function handle(req, res) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) { res.writeHead(413).end(); return; }
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks);
  const url = new URL(req.url, origin());
  if (url.pathname.startsWith("/control/")) {
    const [status, answer] = await control(req.method, url.pathname, raw);
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(answer));
    return;
  }
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
  const hasBody = !["GET", "HEAD"].includes(req.method);
  const request = new Request(url, { method: req.method, headers, body: hasBody ? raw : undefined });
  let record = null;
  if (req.method === "POST" && INBOX.test(url.pathname)) {
    let activity = null;
    try { activity = JSON.parse(raw.toString()); } catch { /* kept as null */ }
    const pick = ["host", "date", "digest", "content-digest", "content-type", "signature",
                  "signature-input", "user-agent"];
    record = {
      seq: ++state.seq, inbox: url.pathname, shared: url.pathname === "/inbox",
      recipient: null, verified: null, reason: null, ...signatureInfo(headers),
      type: activity?.type ?? null, id: activity?.id ?? null,
      actor: typeof activity?.actor === "string" ? activity.actor : activity?.actor?.id ?? null,
      activity, headers: Object.fromEntries(pick.filter((h) => headers.has(h)).map((h) => [h, headers.get(h)])),
    };
  }
  if (record) {
    try {
      record.http_signature = await checkHttpSignature(request.clone());
    } catch (error) {
      record.http_signature = { verified: false, key_id: null, reason: String(error) };
    }
  }
  const response = await federation.fetch(request, { contextData: { record } });
  const body = Buffer.from(await response.arrayBuffer());
  if (record) {
    record.status = response.status;
    if (record.verified !== true) {
      record.verified = false;
      record.reason ??= body.toString().slice(0, 200) || `status ${response.status}`;
    }
    state.received.push(record);
  }
  res.writeHead(response.status, Object.fromEntries(response.headers)).end(body);
}

let listening = null;
function origin() { return `http://${HOST}:${listening}`; }

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    console.error(error);
    if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
    res.end(String(error));
  });
});
server.listen(Number(process.env.PORT || 0), HOST, () => {
  listening = server.address().port;
  setUp(origin());
  Promise.all(USERS.map(keyPairs)).then(() => {
    fs.writeFileSync(process.argv[2], JSON.stringify({ origin: origin(), port: listening }));
  });
});
const stop = () => { server.close(() => process.exit(0)); server.closeAllConnections(); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
