using Opossum.Grains;
using Opossum.Tests.Support;

namespace Opossum.Tests.Grains;

[Collection(ClusterCollection.Name)]
public sealed class ModelGrainTests(ClusterFixture fixture)
{
    [Fact]
    public async Task A_server_runs_no_more_generations_at_once_than_its_parallelism_across_both_silos()
    {
        var tag = Guid.NewGuid().ToString("N");
        fixture.Ollama.Delays[tag] = TimeSpan.FromMilliseconds(300);

        // Conversations on both silos generate on their own silo; the server's slots are the cluster's.
        var replies = await Task.WhenAll(Enumerable.Range(0, 10).Select(i =>
            fixture.Grains.GetGrain<IConversationGrain>($"{tag}-{i}").Chat(new ChatCommand($"{tag} #{i}", ClusterFixture.BoundedModel, true, true))));

        Assert.Equal(10, replies.Length);
        Assert.All(replies, r => Assert.StartsWith("echo: " + tag, r.Message));
        Assert.Equal(ClusterFixture.ServerParallelism, fixture.Ollama.MaxInFlight(ClusterFixture.BoundedModel));
        // Every slot is given back (one-way, just after each answer).
        var server = Assert.Single((await fixture.Grains.GetGrain<IServiceGrain>("ollama").GetHealth()).Servers!);
        for (var i = 0; i < 50 && server.InFlight > 0; i++)
        {
            await Task.Delay(50);
            server = Assert.Single((await fixture.Grains.GetGrain<IServiceGrain>("ollama").GetHealth()).Servers!);
        }
        Assert.Equal(ClusterFixture.ServerParallelism, server.Parallelism);
        Assert.Equal(0, server.InFlight);
    }

    [Fact]
    public async Task A_slow_generation_does_not_block_a_fast_one()
    {
        var slow = $"slow {Guid.NewGuid()}";
        fixture.Ollama.Delays[slow] = TimeSpan.FromSeconds(2);
        var model = fixture.Grains.GetGrain<IModelGrain>(ClusterFixture.Model);

        var slowTask = model.Generate(new GenerationRequest(ClusterFixture.Model, [new ChatMessage("user", slow)]));
        // The fast one is asked for once the slow one is under way at the server.
        await fixture.Ollama.WaitForCallAsync(slow, TimeSpan.FromSeconds(30));
        var fast = await model.Generate(new GenerationRequest(ClusterFixture.Model, [new ChatMessage("user", $"fast {Guid.NewGuid()}")]));

        Assert.False(slowTask.IsCompleted, "the fast generation had to wait for the slow one");
        Assert.StartsWith("echo: fast", fast.Content);
        await slowTask;
    }

    [Fact]
    public async Task Token_counts_and_the_backends_refusal_reach_the_caller()
    {
        var model = fixture.Grains.GetGrain<IModelGrain>(ClusterFixture.Model);
        var failing = $"failing {Guid.NewGuid()}";
        fixture.Ollama.Failures[failing] = (System.Net.HttpStatusCode.NotFound, $"model '{ClusterFixture.Model}' not found");

        var ok = await model.Generate(new GenerationRequest(ClusterFixture.Model, [new ChatMessage("user", "count my tokens")]));
        var error = await Assert.ThrowsAsync<OpossumException>(() =>
            model.Generate(new GenerationRequest(ClusterFixture.Model, [new ChatMessage("user", failing)])));

        // A refusal of one request is not a failure of the server: its circuit counts nothing.
        Assert.Equal(0, (await fixture.Grains.GetGrain<IServiceGrain>("ollama").GetHealth()).ConsecutiveFailures);
        Assert.Equal("count my tokens".Length, ok.InputTokens);
        Assert.Equal(ok.Content.Length, ok.OutputTokens);
        Assert.Equal(ErrorCodes.BackendUnavailable, error.Code);
        Assert.Contains("HTTP 404", error.Message);
        Assert.Contains("not found", error.Message);
    }
}
