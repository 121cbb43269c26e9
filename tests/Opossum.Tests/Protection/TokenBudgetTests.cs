using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Opossum.Gateway.Protection;
using Opossum.Grains;
using Opossum.Tests.Streaming;
using Opossum.Tests.Support;
using Xunit.Abstractions;

namespace Opossum.Tests.Protection;

public sealed class TokenBudgetTests(BudgetGateway fixture, ITestOutputHelper output) : IClassFixture<BudgetGateway>
{
    private const string Stream = "subscription($input: ChatInput!) { chatStream(input: $input) { delta done cached tokensUsed } }";

    private static string Code(JsonNode body) => body["errors"]![0]!["extensions"]!["code"]!.GetValue<string>();

    /// <summary>The reservation a chat of <paramref name="message"/> holds while it runs: one chat's worth.</summary>
    private static long Reservation(string message) => ChatTokens.Estimate(message.Length) + BudgetGateway.AnswerTokens;

    [Theory]
    [InlineData("sse", BudgetGateway.Leaver)]
    [InlineData("ws", BudgetGateway.Sipper)]
    public async Task A_stream_its_client_leaves_after_two_chunks_still_costs_the_prompt_and_what_was_generated(string transport, string key)
    {
        var message = $"tell me a long story in many words so that it streams for a while {Guid.NewGuid():N}";
        var answer = "echo: " + message;
        var aborted = fixture.Ollama.Aborted;

        var events = await ReferenceClients.RunWithKeyAsync(fixture.GraphQL, key, new ClientOp(transport, Stream, new { input = new { message } }, StopAfter: 2));

        Assert.Equal("stopped", events.Of(0)[^1].Kind);
        var seen = events.Chunks(0).Sum(c => c["delta"]!.GetValue<string>().Length);
        Assert.True(seen < answer.Length, events.ToString()); // the client left before the answer was whole
        await Eventually(() => fixture.Ollama.Aborted > aborted, "the backend saw its stream closed");
        var (today, reserved) = await EventuallyAsync(() => fixture.UsageAsync(key), u => u.Reserved == 0 && u.Today > 0, "the stream settled");
        output.WriteLine($"{transport}: the client saw {seen} of {answer.Length} characters; the key was charged {today} tokens");
        // What it cost: the prompt's estimate and the characters the gateway had passed on (the two chunks, or a little more).
        Assert.InRange(today, ChatTokens.Estimate(message.Length) + ChatTokens.Estimate(seen), ChatTokens.Estimate(message.Length) + ChatTokens.Estimate(answer.Length));
    }

    [Fact]
    public async Task A_stream_that_joined_a_generation_whose_starter_left_pays_for_the_answer()
    {
        var message = $"the same long question asked twice at nearly the same time {Guid.NewGuid():N}";
        var answer = "echo: " + message;
        var input = new { input = new { message } };

        var events = await ReferenceClients.RunWithKeyAsync(fixture.GraphQL, BudgetGateway.Twins,
            new ClientOp("sse", Stream, input, StopAfter: 5), new ClientOp("sse", Stream, input, AfterFirstOf: 0));

        Assert.Equal("stopped", events.Of(0)[^1].Kind);
        var joiner = events.Chunks(1);
        Assert.True(joiner[0]["cached"]!.GetValue<bool>(), events.ToString()); // it joined the first stream's generation
        Assert.True(joiner[^1]["done"]!.GetValue<bool>(), events.ToString());
        Assert.False(joiner[^1]["cached"]!.GetValue<bool>()); // the rest of the answer was generated for it
        var reported = joiner[^1]["tokensUsed"]!.GetValue<int>();
        var seen = events.Chunks(0).Sum(c => c["delta"]!.GetValue<string>().Length);
        var (today, _) = await EventuallyAsync(() => fixture.UsageAsync(BudgetGateway.Twins), u => u.Reserved == 0, "both streams settled");
        var leaver = ChatTokens.Estimate(message.Length);
        Assert.InRange(today, reported + leaver + ChatTokens.Estimate(seen), reported + leaver + ChatTokens.Estimate(answer.Length));
    }

    [Fact]
    public async Task Concurrent_chats_overshoot_the_budget_by_one_chats_worth_at_most_and_the_rest_are_refused_with_Retry_After()
    {
        fixture.Ollama.Delays["crowd-wait"] = TimeSpan.FromSeconds(3); // every chat of a wave is still under way when the last one asks
        long answered = 0;
        var waves = new List<(int Admitted, int Refused)>();
        while (waves.Count < 6 && (waves.Count == 0 || waves[^1].Admitted > 0))
        {
            var replies = await Task.WhenAll(Enumerable.Range(0, 24).Select(i => fixture.ChatAsync($"crowd-wait {i:00} {Guid.NewGuid():N}", BudgetGateway.Crowd)));
            foreach (var (response, body) in replies.Where(r => r.Response.StatusCode != HttpStatusCode.OK))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
                Assert.Equal("RATE_LIMITED", Code(body));
                Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, body.ToJsonString());
            }
            var admitted = replies.Where(r => r.Response.StatusCode == HttpStatusCode.OK).ToList();
            answered += admitted.Sum(r => r.Body["data"]!["chat"]!["tokensUsed"]!.GetValue<int>());
            waves.Add((admitted.Count, replies.Length - admitted.Count));
        }

        var (today, reserved) = await fixture.UsageAsync(BudgetGateway.Crowd);
        Assert.Equal(0, reserved);
        Assert.Equal(answered, today); // every admitted chat counted what its backend reported
        var oneChat = Reservation($"crowd-wait 00 {Guid.NewGuid():N}");
        output.WriteLine($"waves (admitted, refused): {string.Join(", ", waves)}; used {today} of {BudgetGateway.TokensPerDay}, one chat reserves {oneChat}");
        Assert.InRange(today, BudgetGateway.TokensPerDay, BudgetGateway.TokensPerDay + oneChat);
        Assert.True(waves[0].Refused > 0, string.Join(", ", waves)); // while chats were under way, their reservations refused the rest
        Assert.Equal(0, waves[^1].Admitted);

        var (refused, refusal) = await fixture.ChatAsync($"crowd once more {Guid.NewGuid():N}", BudgetGateway.Crowd);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Contains("used up", refusal["errors"]![0]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_reservation_never_settled_expires_after_the_grain_call_timeout_and_a_late_settlement_still_counts()
    {
        var held = $"stuck-wait {new string('z', 3600)} {Guid.NewGuid():N}";
        Assert.True(Reservation(held) >= BudgetGateway.TokensPerDay); // this one chat reserves the whole budget
        fixture.Ollama.Delays["stuck-wait"] = TimeSpan.FromMinutes(5);
        using var leave = new CancellationTokenSource();
        var stuck = fixture.ChatAsync(held, BudgetGateway.Stuck, leave.Token);
        await EventuallyAsync(() => fixture.UsageAsync(BudgetGateway.Stuck), u => u.Reserved == Reservation(held), "the held chat reserved its estimate");

        var small = $"a small question {Guid.NewGuid():N}";
        var (refused, refusal) = await fixture.ChatAsync(small, BudgetGateway.Stuck);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("RATE_LIMITED", Code(refusal));
        Assert.Contains("reserved by chats under way", refusal["errors"]![0]!["message"]!.GetValue<string>());
        Assert.Equal(TimeSpan.FromSeconds(5), refused.Headers.RetryAfter!.Delta);

        fixture.Clock.Advance(BudgetGateway.GrainCallTimeout + TimeSpan.FromSeconds(1));
        Assert.Equal((0L, 0L), await fixture.UsageAsync(BudgetGateway.Stuck));
        var (admitted, answer) = await fixture.ChatAsync(small, BudgetGateway.Stuck);
        Assert.Equal(HttpStatusCode.OK, admitted.StatusCode);
        var tokens = answer["data"]!["chat"]!["tokensUsed"]!.GetValue<int>();

        // The held chat's client leaves: the chat settles late, with its prompt's estimate.
        await leave.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stuck);
        await EventuallyAsync(() => fixture.UsageAsync(BudgetGateway.Stuck), u => u.Today == tokens + ChatTokens.Estimate(held.Length), "the held chat settled");
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        for (var i = 0; i < 200 && !condition(); i++)
            await Task.Delay(50);
        Assert.True(condition(), what);
    }

    private static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> condition, string what)
    {
        var value = await read();
        for (var i = 0; i < 200 && !condition(value); i++)
        {
            await Task.Delay(50);
            value = await read();
        }
        Assert.True(condition(value), $"{what}: {value}");
        return value;
    }
}
