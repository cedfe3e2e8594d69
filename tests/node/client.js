// Drives the appliance with the official twilio-node library (tests/api/test_node_client.py).
// Reads APPLIANCE_URL, ACCOUNT_SID, AUTH_TOKEN, FROM, TO from the environment; prints one JSON
// object with what the library returned, for the Python test to assert on.
"use strict";

const twilio = require("twilio");

async function main() {
  const env = process.env;
  const client = twilio(env.ACCOUNT_SID, env.AUTH_TOKEN);
  // twilio-node 5.x: each domain has a baseUrl (lib/base/Domain.js); the v2010 API is client.api.
  client.api.baseUrl = env.APPLIANCE_URL;
  const out = { version: require("twilio/package.json").version };

  const created = await client.messages.create({ to: env.TO, from: env.FROM, body: "Hello from node" });
  out.created = { sid: created.sid, status: created.status, to: created.to, from: created.from,
    body: created.body, numSegments: created.numSegments, dateCreated: created.dateCreated.toISOString() };
  const second = await client.messages.create({ to: env.TO, from: env.FROM, body: "Second" });

  // Paging: pageSize 1 follows next_page_uri (relative, appended to the base URL).
  const listed = await client.messages.list({ to: env.TO, pageSize: 1 });
  out.listed = listed.map((m) => m.sid);
  out.expectedOrder = [second.sid, created.sid];

  const fetched = await client.messages(created.sid).fetch();
  out.fetched = { sid: fetched.sid, body: fetched.body, status: fetched.status,
    uri: fetched.uri, accountSid: fetched.accountSid };

  try {
    await client.messages.create({ to: "not a number", from: env.FROM, body: "x" });
    out.error = null;
  } catch (e) {
    out.error = { name: e.constructor.name, code: e.code, status: e.status, message: e.message,
      moreInfo: e.moreInfo };
  }
  try {
    await client.messages("SM00000000000000000000000000000000").fetch();
    out.missing = null;
  } catch (e) {
    out.missing = { name: e.constructor.name, code: e.code, status: e.status };
  }
  if (env.BROWSER_CALL_SID) {  // user-defined messages (tests/api/test_usermessages.py)
    const call = client.calls(env.BROWSER_CALL_SID);
    const sub = await call.userDefinedMessageSubscriptions.create({
      callback: "https://app.example/messages", method: "GET", idempotencyKey: "node-1" });
    out.subscription = { sid: sub.sid, accountSid: sub.accountSid, callSid: sub.callSid,
      uri: sub.uri, dateCreated: sub.dateCreated.toISOString() };
    out.removed = await call.userDefinedMessageSubscriptions(sub.sid).remove();
    try {
      await call.userDefinedMessages.create({ content: JSON.stringify({ ahoy: "world" }) });
      out.sendError = null;
    } catch (e) {
      out.sendError = { name: e.constructor.name, code: e.code, status: e.status };
    }
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
