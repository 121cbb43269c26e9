using System.Diagnostics.Metrics;
using System.Reflection;
using System.Runtime.CompilerServices;
using GraphQL;
using GraphQL.Utilities;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Opossum.Gateway.GraphQL.Types;
using Opossum.Grains;
using Opossum.Grains.Availability;
using Opossum.Grains.Backends.Gemini;
using Opossum.Grains.Backends.Ollama;
using Opossum.Grains.Caching;
using Opossum.Grains.Conversations;
using Opossum.Grains.Hosting;
using Opossum.Grains.Routing;
using Opossum.Grains.Telemetry;
using Opossum.ServiceDefaults.Configuration;
using Opossum.ServiceDefaults.Telemetry;
using Opossum.Tests.Gateway;
using Opossum.Tests.Support;

namespace Opossum.Tests.Docs;

/// <summary>
/// docs/contracts.md is the project's contract with its users: its schema is the one the gateway serves,
/// and its settings, error codes and telemetry names are the ones the code has.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class ContractsDocTests(GatewayFixture fixture)
{
    private const string Contracts = "docs/contracts.md";

    [Fact]
    public void The_schema_in_the_contract_is_the_one_the_gateway_serves()
    {
        var schema = fixture.Gateway.Services.GetRequiredService<OpossumSchema>();
        schema.Initialize();
        var served = schema.Print(new PrintOptions { IncludeDescriptions = true, IncludeDeprecationReasons = true })
            .ReplaceLineEndings("\n").TrimEnd('\n');

        var documented = RepositoryDocs.CodeBlock(Contracts, "graphql");

        Assert.True(served == documented,
            $"The ```graphql block of {Contracts} is not the schema the gateway serves. The gateway prints:\n{served}");
    }

    [Fact]
    public void Every_documented_variable_is_listed_with_the_key_it_sets()
    {
        var rows = RepositoryDocs.TableRows(Contracts, "variable");

        var missing = OpossumEnvironment.Variables
            .Where(v => !rows.Any(r => RepositoryDocs.Code(r[0]) == v.Key && RepositoryDocs.Code(r[1]) == v.Value))
            .Select(v => $"{v.Key} -> {v.Value}");

        Assert.Empty(missing);
    }

    [Fact]
    public void The_defaults_in_the_contract_are_the_codes()
    {
        var rows = RepositoryDocs.TableRows(Contracts, "variable");

        var wrong = CodeDefaults()
            .Select(d => (d.Key, Expected: d.Value,
                Documented: rows.FirstOrDefault(r => RepositoryDocs.Code(r[1]) == d.Key || RepositoryDocs.Code(r[0]) == d.Key) is { } row
                    ? RepositoryDocs.Code(row[2]) : "(no row)"))
            .Where(d => d.Documented != d.Expected)
            .Select(d => $"{d.Key}: the code's default is {d.Expected}, the contract says {d.Documented}");

        Assert.Empty(wrong);
    }

    [Fact]
    public void The_READMEs_short_table_agrees_with_the_contract()
    {
        var contract = RepositoryDocs.TableRows(Contracts, "variable");
        var readme = RepositoryDocs.TableRows("README.md", "variable");

        Assert.NotEmpty(readme);
        Assert.All(readme, row =>
        {
            var full = Assert.Single(contract, r => r[0] == row[0]);
            Assert.Equal(full[2], row[1]); // the same default
        });
    }

    [Fact]
    public void Every_error_code_is_explained()
    {
        var codes = RepositoryDocs.TableRows(Contracts, "code").Select(r => RepositoryDocs.Code(r[0])).ToHashSet();
        var defined = typeof(ErrorCodes).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (string)f.GetRawConstantValue()!);

        var unexplained = defined.Where(c => !codes.Contains(c)).ToList();

        Assert.Empty(unexplained);
    }

    [Fact]
    public void Every_span_attribute_and_metric_of_the_Opossum_source_is_named()
    {
        var contract = RepositoryDocs.Read(Contracts);
        RuntimeHelpers.RunClassConstructor(typeof(OpossumTelemetry).TypeHandle);
        var instruments = new List<string>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == OpossumTelemetry.Name) instruments.Add(instrument.Name);
            };
            listener.Start();
        }
        var names = typeof(OpossumTelemetry.Spans).GetFields().Concat(typeof(OpossumTelemetry.Tags).GetFields())
            .Select(f => (string)f.GetRawConstantValue()!)
            .Concat(instruments);

        var unnamed = names.Where(n => !contract.Contains($"`{n}`", StringComparison.Ordinal)).ToList();

        Assert.Contains("opossum.service.available", instruments);
        Assert.Empty(unnamed);
    }

    private static Dictionary<string, string> CodeDefaults()
    {
        var empty = new ConfigurationBuilder().Build();
        var telemetry = TelemetrySettings.From(empty);
        var cluster = ClusterSettings.From(empty);
        var ollama = new OllamaOptions();
        var gemini = new GeminiOptions();
        var availability = new AvailabilityOptions();
        var conversations = new ConversationOptions();
        var cache = new CacheOptions();
        var limits = new Opossum.Gateway.Protection.LimitsOptions();
        return new Dictionary<string, string>
        {
            ["Telemetry:Enabled"] = telemetry.Enabled ? "true" : "false",
            ["Telemetry:ServiceName"] = telemetry.ServiceName,
            ["Telemetry:OtlpEndpoint"] = TelemetrySettings.DefaultEndpoint,
            ["Telemetry:Environment"] = telemetry.Environment,
            ["OTEL_BSP_MAX_QUEUE_SIZE"] = TelemetryExtensions.SpanQueue.ToString(),
            ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] = TelemetryExtensions.SpanBatch.ToString(),
            ["Backends:Ollama:BaseUrl"] = ollama.BaseUrl,
            ["Backends:Ollama:Parallelism"] = ollama.Parallelism,
            ["Backends:Ollama:RequestTimeout"] = ollama.RequestTimeout.ToString(),
            ["Backends:Ollama:QueueTimeout"] = ollama.QueueTimeout.ToString(),
            ["Backends:Ollama:CheckTimeout"] = ollama.CheckTimeout.ToString(),
            ["Backends:Gemini:BaseUrl"] = gemini.BaseUrl.OriginalString,
            ["Backends:Gemini:Parallelism"] = gemini.Parallelism.ToString(),
            ["Backends:Gemini:RequestTimeout"] = gemini.RequestTimeout.ToString(),
            ["Backends:Gemini:QueueTimeout"] = gemini.QueueTimeout.ToString(),
            ["Backends:Gemini:CheckTimeout"] = gemini.CheckTimeout.ToString(),
            ["Opossum:Clustering"] = cluster.Clustering,
            ["Opossum:ServiceId"] = cluster.ServiceId,
            ["Opossum:ClusterId"] = cluster.ClusterId,
            ["Opossum:SiloPort"] = cluster.SiloPort.ToString(),
            ["Opossum:GatewayPort"] = cluster.GatewayPort.ToString(),
            ["Opossum:GrainCallTimeout"] = OpossumSiloExtensions.GrainCallTimeout(empty).ToString(),
            ["Opossum:Routing:MaxFallbacks"] = new RoutingOptions().MaxFallbacks.ToString(),
            ["Opossum:Availability:CheckPeriod"] = availability.CheckPeriod.ToString(),
            ["Opossum:Availability:DegradedLatency"] = availability.DegradedLatency.ToString(),
            ["Opossum:Availability:FailureThreshold"] = availability.FailureThreshold.ToString(),
            ["Opossum:Availability:CoolDown"] = availability.CoolDown.ToString(),
            ["Opossum:Conversations:ContextExchanges"] = conversations.ContextExchanges.ToString(),
            ["Opossum:Conversations:IdleExpiry"] = conversations.IdleExpiry.ToString(),
            ["Opossum:Conversations:MaxInMemory"] = conversations.MaxInMemory.ToString(),
            ["Opossum:Cache:Ttl"] = cache.Ttl.ToString(),
            ["Opossum:Cache:LocalEntries"] = cache.LocalEntries.ToString(),
            ["Opossum:Limits:ChatsPerMinute"] = limits.ChatsPerMinute.ToString(),
            ["Opossum:Limits:AnswerTokens"] = limits.AnswerTokens.ToString(),
            ["Opossum:Limits:MaxCost"] = limits.MaxCost.ToString(),
            ["Opossum:Limits:MaxDepth"] = limits.MaxDepth.ToString(),
            ["Opossum:Limits:MaxRequestBytes"] = limits.MaxRequestBytes.ToString(),
            ["Opossum:Limits:MaxQueryLength"] = limits.MaxQueryLength.ToString(),
            ["Opossum:Limits:WebSocketsPerClient"] = limits.WebSocketsPerClient.ToString(),
            ["Opossum:Limits:OperationsPerWebSocket"] = limits.OperationsPerWebSocket.ToString(),
        };
    }
}
