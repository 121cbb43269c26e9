using Opossum.Gateway.Hosting;
using Opossum.ServiceDefaults.Configuration;
using Opossum.ServiceDefaults.Telemetry;

var builder = WebApplication.CreateBuilder(args);
builder.Configuration.AddOpossumEnvironment();
builder.AddOpossumTelemetry();
builder.AddOpossumGateway();

var app = builder.Build();
app.MapOpossumEndpoints();
app.Run();
