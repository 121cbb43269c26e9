namespace Opossum.Gateway.OpenAI;

/// <summary>The OpenAI door: its services and its routes under <c>/v1</c>.</summary>
public static class OpenAIDoor
{
    public static IServiceCollection AddOpenAIDoor(this IServiceCollection services) =>
        services.AddSingleton<OpenAIErrors>().AddSingleton<OpenAIEndpoint>();

    public static IEndpointRouteBuilder MapOpenAIDoor(this IEndpointRouteBuilder app)
    {
        var endpoint = app.ServiceProvider.GetRequiredService<OpenAIEndpoint>();
        app.MapPost("/v1/chat/completions", endpoint.ChatCompletionsAsync);
        app.MapGet("/v1/models", endpoint.ModelsAsync);
        app.MapGet("/v1/models/{id}", endpoint.ModelAsync);
        return app;
    }
}
