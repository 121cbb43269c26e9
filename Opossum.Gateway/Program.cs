using Opossum.Gateway.Hosting;
using Opossum.ServiceDefaults.Hosting;

return StartupGuard.Run("opossum-gateway", () => GatewayApp.Build(args));
