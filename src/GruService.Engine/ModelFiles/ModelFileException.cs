namespace GruService.Engine.ModelFiles;

/// <summary>A model file that cannot be loaded; the message names what is wrong.</summary>
public sealed class ModelFileException(string message) : Exception(message);
