namespace GruService.Api.Tests;

/// <summary>
/// A test class whose every test gets a host of its own: xunit makes a new instance of the class for each test, so
/// each test starts with a fresh <see cref="GruServiceFactory"/> (its own empty storage root) and a <see cref="Client"/>
/// that already answered /readyz, and the host and its storage root are gone once the test ends.
/// </summary>
public abstract class ServiceTestBase : IAsyncLifetime
{
    /// <summary>A host with the factory's defaults overridden by these settings.</summary>
    protected ServiceTestBase(IDictionary<string, string?>? settings = null) : this(new GruServiceFactory(settings: settings)) { }

    /// <summary>A host the test class configured itself, for what settings cannot say (extra services).</summary>
    protected ServiceTestBase(GruServiceFactory factory) => Factory = factory;

    protected GruServiceFactory Factory { get; }

    /// <summary>Sends the test key (see <see cref="GruServiceFactory.TestApiKey"/>).</summary>
    protected HttpClient Client { get; private set; } = null!;

    public virtual async Task InitializeAsync() => Client = await Factory.ReadyClientAsync();

    public Task DisposeAsync()
    {
        Factory.Dispose();
        return Task.CompletedTask;
    }
}
