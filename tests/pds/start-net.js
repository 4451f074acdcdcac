// The reference Bluesky PDS for the tests: an in-memory PLC directory and one PDS on SQLite,
// no AppView. Writes a readiness file (argv[2]) with the URLs once it is up; stops on SIGTERM.
const fs = require('node:fs')
const { TestNetworkNoAppView } = require('@atproto/dev-env')
TestNetworkNoAppView.create({
  plc: { port: Number(process.env.PLC_PORT || 2582) },
  pds: { port: Number(process.env.PDS_PORT || 2583), rateLimitsEnabled: false },
}).then((net) => {
  fs.writeFileSync(process.argv[2], JSON.stringify({ pds: net.pds.url, plc: net.plc.url }))
  const stop = () => net.close().finally(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}).catch((e) => { console.error(e); process.exit(1) })
