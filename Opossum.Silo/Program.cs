using Opossum.Grains.Hosting;
using Opossum.ServiceDefaults.Configuration;
using Opossum.ServiceDefaults.Health;
using Opossum.ServiceDefaults.Telemetry;

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddOpossumEnvironment();
builder.AddOpossumTelemetry();
builder.AddOpossumSilo();
builder.Services.AddHealthChecks();

var app = builder.Build();
app.MapOpossumDefaultEndpoints();
app.Run();
