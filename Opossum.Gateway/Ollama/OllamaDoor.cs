namespace Opossum.Gateway.Ollama;

/// <summary>Wiring of Ollama's REST API on the gateway (docs/contracts.md, "Ollama door").</summary>
public static class OllamaDoor
{
    /// <summary>The Ollama release whose API the door follows, answered by <c>GET /api/version</c>.</summary>
    public const string ApiVersion = "0.12.10";

    public static IServiceCollection AddOllamaDoor(this IServiceCollection services) => services.AddSingleton<OllamaEndpoints>();

    public static WebApplication MapOllamaDoor(this WebApplication app)
    {
        var door = app.Services.GetRequiredService<OllamaEndpoints>();
        app.MapPost("/api/chat", door.ChatAsync);
        app.MapPost("/api/generate", door.GenerateAsync);
        app.MapGet("/api/tags", door.TagsAsync);
        app.MapGet("/api/ps", door.RunningAsync);
        app.MapGet("/api/version", door.VersionAsync);
        app.MapPost("/api/show", door.ShowAsync);
        // The models are the backends' servers' to manage, not their clients'.
        app.MapPost("/api/pull", door.ManageAsync);
        app.MapPost("/api/push", door.ManageAsync);
        app.MapPost("/api/create", door.ManageAsync);
        app.MapPost("/api/copy", door.ManageAsync);
        app.MapDelete("/api/delete", door.ManageAsync);
        app.MapMethods("/api/blobs/{digest}", [HttpMethods.Head, HttpMethods.Post], door.ManageAsync);
        return app;
    }
}
