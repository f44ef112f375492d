// A gRPC client of Overcast in Node.js, built only from the protos the Python package ships
// (overcast/protos: the contract and the google/api, google/rpc protos it needs), as a user of
// another language would: create a server, watch it become ACTIVE, then send a bad create and
// decode the google.rpc.BadRequest from the grpc-status-details-bin trailer.
// Usage: node client.mjs ENDPOINT PROTOS_DIR PROJECT SERVER_ID   (prints one JSON object)
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../tools/node/package.json"));
const grpc = require("@grpc/grpc-js");
const protoLoader = require("@grpc/proto-loader");
const protobuf = require("protobufjs");

const [endpoint, protosDir, project, serverId] = process.argv.slice(2);
const options = { includeDirs: [protosDir], enums: String, longs: String, defaults: true, oneofs: true };
const definition = protoLoader.loadSync(["overcast/v1/server.proto"], options);
const overcast = grpc.loadPackageDefinition(definition).overcast.v1;
const servers = new overcast.ServerService(endpoint, grpc.credentials.createInsecure());

// The rich error details, decoded with protobufjs from the shipped google/rpc protos.
const rpc = new protobuf.Root();
rpc.resolvePath = (_origin, target) => path.join(protosDir, target);
rpc.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
const Status = rpc.lookupType("google.rpc.Status");
const BadRequest = rpc.lookupType("google.rpc.BadRequest");

const unary = (method, request) =>
  new Promise((resolve, reject) =>
    servers[method](request, { deadline: Date.now() + 15000 }, (err, reply) => (err ? reject(err) : resolve(reply))),
  );

function badRequestOf(err) {
  const [bin] = err.metadata.get("grpc-status-details-bin");
  const status = Status.decode(bin);
  const any = status.details.find((d) => d.type_url === "type.googleapis.com/google.rpc.BadRequest");
  const bad = BadRequest.decode(any.value);
  return {
    code: status.code,
    message: status.message,
    violations: bad.field_violations.map((v) => ({ field: v.field, description: v.description })),
  };
}

async function main() {
  const parent = `projects/${project}`;
  const name = `${parent}/servers/${serverId}`;
  const states = [];
  const watch = servers.WatchServers({ parent });
  const active = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ACTIVE in 60 s: ${states}`)), 60000);
    watch.on("data", (change) => {
      if (change.server && change.server.name === name) {
        const state = change.server.vmState;
        if (states.at(-1) !== state) states.push(state);
        if (state === "VM_STATE_ACTIVE") {
          clearTimeout(timer);
          resolve(change.server);
        }
      }
    });
    watch.on("error", (err) => {
      if (err.code !== grpc.status.CANCELLED) reject(err);
    });
  });
  const created = await unary("CreateServer", {
    parent,
    serverId,
    server: { flavor: "flavors/m1.tiny", image: "images/cirros" },
  });
  const server = await active;
  watch.cancel();

  let badRequest = null;
  try {
    await unary("CreateServer", { parent, serverId: "Not A Valid Id!", server: { image: "images/cirros" } });
  } catch (err) {
    badRequest = { grpcCode: err.code, ...badRequestOf(err) };
  }
  await unary("DeleteServer", { name });
  return {
    created: created.name,
    createdState: created.vmState,
    states,
    active: { name: server.name, vmState: server.vmState, powerState: server.powerState, host: server.host },
    badRequest,
  };
}

main().then(
  (result) => {
    console.log(JSON.stringify(result));
    process.exit(0);
  },
  (err) => {
    console.error(`node client: ${err.message ?? err}`);
    process.exit(1);
  },
);
