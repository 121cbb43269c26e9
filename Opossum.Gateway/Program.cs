using Opossum.Gateway.Hosting;

GatewayApp.Build(args).Run();
