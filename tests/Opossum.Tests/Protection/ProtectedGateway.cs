using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Opossum.Grains;
using Opossum.Tests.Support;

namespace Opossum.Tests.Protection;

/// <summary>
/// A standalone gateway with client keys (alice, bob, carol, dave, erin), an operator key (ops), 3 chats per minute
/// and 1 000 tokens per day per key (100 reserved per answer), on a clock that stands still at 12:00:10 UTC unless a test moves it.
/// </summary>
public sealed class ProtectedGateway : IAsyncLifetime
{
    public const string Alice = "alice-7c1d0e9b2f", Bob = "bob-4a8e61c3d5", Carol = "carol-93bb0a7e12", Dave = "dave-5e02c9d8f4",
        Erin = "erin-d1f7a2b6c0", Ops = "ops-0f6b3e8a91";
    public const int ChatsPerMinute = 3;
    public const long TokensPerDay = 1000;

    public FakeOllama Ollama { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 12, 2, 12, 0, 10, TimeSpan.Zero));
    public Uri GraphQL => new(Gateway.Http.BaseAddress!, "/graphql");

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        Gateway = await GatewayHost.StartAsync(Ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["OPOSSUM_API_KEYS"] = $"alice:{Alice}, bob:{Bob},carol:{Carol},dave:{Dave},erin:{Erin}",
            ["OPOSSUM_ADMIN_KEYS"] = $"ops:{Ops}",
            ["Opossum:Limits:ChatsPerMinute"] = ChatsPerMinute.ToString(),
            ["Opossum:Limits:TokensPerDay"] = TokensPerDay.ToString(),
            // Each chat reserves its message's estimate and this while under way: a key's two streams at once fit the budget.
            ["Opossum:Limits:AnswerTokens"] = "100",
        }, services => services.AddKeyedSingleton<TimeProvider>(ProviderNames.Clock, Clock));
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Ollama.DisposeAsync();
    }

    /// <summary>POSTs <paramref name="query"/> with <paramref name="key"/> (none when null) as a typical client does.</summary>
    public async Task<(HttpResponseMessage Response, JsonNode Body)> PostAsync(string query, object? variables, string? key, string accept = "application/graphql-response+json")
    {
        using var request = GatewayHost.GraphQLPost(query, variables, key, accept);
        var response = await Gateway.SendUntracedAsync(request);
        return (response, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    public Task<(HttpResponseMessage Response, JsonNode Body)> ChatAsync(string message, string? key) =>
        PostAsync("mutation($m: String!) { chat(input: {message: $m}) { message cached tokensUsed } }", new { m = message }, key);

    public async Task<JsonNode> UsageAsync(string key) =>
        (await PostAsync("{ usage { key chatsThisMinute chatsPerMinute minuteResetsAt tokensToday tokensPerDay dayResetsAt } }", null, key)).Body["data"]!["usage"]!;
}
