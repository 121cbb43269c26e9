using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

/// <summary>A gateway whose Ollama is not running at all.</summary>
public sealed class UnreachableBackendTests : IAsyncLifetime
{
    private GatewayHost _gateway = null!;
    private Uri _nowhere = null!;

    public async Task InitializeAsync()
    {
        _nowhere = new Uri($"http://127.0.0.1:{FreePorts.Next()}");
        _gateway = await GatewayHost.StartAsync(_nowhere);
    }

    public Task DisposeAsync() => _gateway.DisposeAsync().AsTask();

    [Fact]
    public async Task Chat_is_backend_unavailable_and_says_ollama_is_unreachable()
    {
        var result = await _gateway.ChatAsync(new { message = "anyone there?" });

        ChatErrorTests.AssertError(result, "BACKEND_UNAVAILABLE", "unreachable");
        Assert.Contains(_nowhere.Authority, result.ErrorMessage);
    }

    [Fact]
    public async Task The_service_is_offline_with_the_reason_and_its_models_unavailable()
    {
        // The circuit opens after three consecutive failures (the start-up check counts as one).
        GraphQLResult result = null!;
        for (var i = 0; i < 3; i++)
            result = await _gateway.PostAsync("mutation { forceServiceCheck { name state available lastError consecutiveFailures } }");
        var models = await _gateway.PostAsync("{ models { name available } serviceStatus { allServicesAvailable } }");

        var ollama = result.Data!["forceServiceCheck"]![0]!;
        Assert.Equal("OFFLINE", ollama["state"]!.GetValue<string>());
        Assert.Contains("unreachable", ollama["lastError"]!.GetValue<string>());
        Assert.True(ollama["consecutiveFailures"]!.GetValue<int>() >= 3);
        Assert.False(models.Data!["models"]![0]!["available"]!.GetValue<bool>());
        Assert.False(models.Data!["serviceStatus"]!["allServicesAvailable"]!.GetValue<bool>());
    }
}
