using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Opossum.Bench;

/// <summary>Small Kestrel servers the harness needs: Ollama's protocol with a fixed latency, an OTLP sink, the ceiling endpoint.</summary>
public static class Servers
{
    public static async Task<WebApplication> StartAsync(Action<WebApplication> map, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return app;
    }

    public static Uri Address(this WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>Answers <c>/api/chat</c> after <paramref name="latency"/>, counting calls per prompt.</summary>
    public sealed class Ollama(TimeSpan latency)
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _calls = new();

        public int CallsFor(string prompt) => _calls.GetValueOrDefault(prompt);

        public void Map(WebApplication app)
        {
            app.MapGet("/api/tags", () => Results.Json(new { models = new[] { new { name = "gemma3:1b" } } }));
            app.MapPost("/api/chat", async (HttpRequest request) =>
            {
                var body = await JsonNode.ParseAsync(request.Body);
                var prompt = body!["messages"]!.AsArray()[^1]!["content"]!.GetValue<string>();
                _calls.AddOrUpdate(prompt, 1, (_, n) => n + 1);
                await Task.Delay(latency);
                return Results.Json(new
                {
                    model = body["model"]!.GetValue<string>(),
                    message = new { role = "assistant", content = Answer },
                    done = true,
                    prompt_eval_count = prompt.Length,
                    eval_count = Answer.Length,
                });
            });
        }
    }

    /// <summary>A typical short answer (~200 bytes).</summary>
    public const string Answer = "Opossums are marsupials native to the Americas. They eat ticks, play dead when threatened, and are largely immune to snake venom. The Virginia opossum is the only one found north of Mexico.";

    /// <summary>Accepts OTLP posts and throws them away.</summary>
    public static void MapSink(WebApplication app)
    {
        app.MapPost("/v1/traces", async (HttpRequest r) => { await r.Body.CopyToAsync(Stream.Null); return Results.Ok(); });
        app.MapPost("/v1/metrics", async (HttpRequest r) => { await r.Body.CopyToAsync(Stream.Null); return Results.Ok(); });
    }

    /// <summary>The ceiling: a bare endpoint that reads the request and answers a fixed JSON body.</summary>
    public static void MapCeiling(WebApplication app, int bodyBytes)
    {
        var prefix = "{\"data\":{\"chat\":{\"message\":\"";
        var suffix = "\"}}}";
        var body = Encoding.UTF8.GetBytes(prefix + new string('x', Math.Max(0, bodyBytes - prefix.Length - suffix.Length)) + suffix);
        app.MapPost("/graphql", async (HttpContext context) =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.ContentType = "application/graphql-response+json; charset=utf-8";
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body);
        });
    }
}
