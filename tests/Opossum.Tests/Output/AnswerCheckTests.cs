using Opossum.Grains;
using Opossum.Grains.Output;

namespace Opossum.Tests.Output;

/// <summary>What a checked request's answer must be: its text per the strict schema, each strict function's arguments per its parameters.</summary>
public sealed class AnswerCheckTests
{
    private const string Person = """{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false}""";
    private const string Weather = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""";

    private static Generation Answer(string content, params ToolCall[] calls) =>
        new(content, "ollama", "gemma3:1b", null, null, calls.Length > 0 ? FinishReasons.ToolCalls : FinishReasons.Stop, ToolCalls: calls.Length > 0 ? calls : null);

    private static AnswerCheck Check(GenerationOptions options) => AnswerCheck.For(options) ?? throw new InvalidOperationException("not checked");

    [Fact]
    public void Only_a_strict_schema_or_a_strict_function_is_checked()
    {
        Assert.Null(AnswerCheck.For(null));
        Assert.Null(AnswerCheck.For(new GenerationOptions(Temperature: 0.5)));
        Assert.Null(AnswerCheck.For(new GenerationOptions(Format: new OutputFormat(Person))));
        Assert.Null(AnswerCheck.For(new GenerationOptions(Format: new OutputFormat(null, Strict: true))));
        Assert.Null(AnswerCheck.For(new GenerationOptions(Tools: [new("get_weather", null, Weather)])));
        Assert.NotNull(AnswerCheck.For(new GenerationOptions(Format: new OutputFormat(Person, Strict: true))));
        Assert.NotNull(AnswerCheck.For(new GenerationOptions(Tools: [new("get_weather", null, Weather, Strict: true)])));
    }

    [Fact]
    public void A_conforming_answer_has_no_problems()
    {
        var check = Check(new GenerationOptions(Format: new OutputFormat(Person, Strict: true)));

        Assert.Null(check.Problems(Answer("""{"name":"Ada","age":36}""")));
    }

    [Fact]
    public void An_answer_off_the_schema_says_what_and_where_but_its_paths_hold_no_values()
    {
        var check = Check(new GenerationOptions(Format: new OutputFormat(Person, Strict: true)));

        var problems = check.Problems(Answer("""{"name":"Ada","age":"thirty-six"}"""));

        Assert.NotNull(problems);
        Assert.StartsWith("the answer: /age", problems.Words);
        Assert.Equal(["content/age"], problems.Paths);
        Assert.DoesNotContain(problems.Paths, p => p.Contains("thirty", StringComparison.Ordinal));
    }

    [Fact]
    public void An_answer_that_is_not_json_does_not_conform()
    {
        var problems = Check(new GenerationOptions(Format: new OutputFormat(Person, Strict: true))).Problems(Answer("Ada, 36"));

        Assert.NotNull(problems);
        Assert.Contains("it is not JSON", problems.Words);
        Assert.Equal(["content"], problems.Paths);
    }

    [Fact]
    public void A_missing_required_property_is_a_problem_of_the_whole_value()
    {
        var problems = Check(new GenerationOptions(Format: new OutputFormat(Person, Strict: true))).Problems(Answer("""{"name":"Ada"}"""));

        Assert.NotNull(problems);
        Assert.Contains("age", problems.Words);
        Assert.Equal(["content"], problems.Paths);
    }

    [Fact]
    public void The_arguments_of_a_call_to_a_strict_function_are_checked_against_its_parameters()
    {
        var check = Check(new GenerationOptions(Tools: [new("get_weather", null, Weather, Strict: true), new("get_time", null, """{"type":"object","required":["zone"]}""")]));

        Assert.Null(check.Problems(Answer("", new ToolCall("c1", "get_weather", """{"city":"Oslo"}"""))));
        // get_time is not strict: its arguments are the model's business.
        Assert.Null(check.Problems(Answer("", new ToolCall("c1", "get_time", "{}"))));

        var problems = check.Problems(Answer("", new ToolCall("c1", "get_time", "{}"), new ToolCall("c2", "get_weather", """{"city":7}""")));

        Assert.NotNull(problems);
        Assert.StartsWith("the arguments of the call to 'get_weather': /city", problems.Words);
        Assert.Equal(["tool_calls[1].arguments/city"], problems.Paths);
    }

    [Fact]
    public void A_call_to_a_function_that_was_not_offered_does_not_conform()
    {
        var check = Check(new GenerationOptions(Tools: [new("get_weather", null, Weather, Strict: true)]));

        var problems = check.Problems(Answer("", new ToolCall("c1", "launch_rockets", "{}")));

        Assert.NotNull(problems);
        Assert.Equal("a call to 'launch_rockets', a function that was not offered", problems.Words);
        Assert.Equal(["tool_calls[0].name"], problems.Paths);
    }

    [Fact]
    public void An_answer_of_tool_calls_alone_is_not_held_to_the_answer_schema()
    {
        var check = Check(new GenerationOptions(Tools: [new("get_weather", null, Weather)], Format: new OutputFormat(Person, Strict: true)));

        Assert.Null(check.Problems(Answer("", new ToolCall("c1", "get_weather", """{"city":"Oslo"}"""))));
        Assert.NotNull(check.Problems(Answer("")));
    }
}
